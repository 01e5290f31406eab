// The Docker Engine API over the private engine's unix socket, straight from
// node:http: the "bare docker operations" the agent bench compares with (no
// CLI start-up in them), and the engine's event stream, which times both
// sides the same way.
import http from 'node:http';

/** `unix:///path/docker.sock` -> `/path/docker.sock`. */
export function socketPathOf(dockerHost: string): string {
  if (!dockerHost.startsWith('unix://')) throw new Error(`not a unix socket: ${dockerHost}`);
  return dockerHost.slice('unix://'.length);
}

const REQUEST_TIMEOUT_MS = 60_000;

export interface ApiResponse {
  status: number;
  text: string;
}

/** One API call; resolves with the status and the body, whatever the status; rejects when no answer comes in `timeoutMs`. */
export function apiRequest(
  socketPath: string,
  method: string,
  path: string,
  { body, timeoutMs = REQUEST_TIMEOUT_MS }: { body?: unknown; timeoutMs?: number } = {},
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 500, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** One API call; resolves with the parsed JSON body (or null), rejects on a status >= 300. */
export async function apiCall(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { status, text } = await apiRequest(socketPath, method, path, { body });
  if (status >= 300) throw new Error(`${method} ${path}: ${status} ${text.trim()}`);
  return text.trim() ? JSON.parse(text) : null;
}

export interface SeenEvent {
  action: string;
  /** The container's name as the event gives it (the new name for a rename). */
  name: string;
  /** When this process received it (performance.now()). */
  at: number;
}

export interface EventWatch {
  events: SeenEvent[];
  close(): void;
}

/**
 * Follows container events of containers carrying `label`, stamping each
 * with the time it arrived here. Resolves once the stream is open.
 */
export function watchEvents(socketPath: string, label: string): Promise<EventWatch> {
  const filters = encodeURIComponent(JSON.stringify({ type: ['container'], label: [label] }));
  return new Promise((resolve, reject) => {
    const events: SeenEvent[] = [];
    const req = http.get({ socketPath, path: `/events?filters=${filters}` }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /events: ${res.statusCode}`));
        res.resume();
        return;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = performance.now();
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          const e = JSON.parse(line) as {
            Action: string;
            Actor?: { Attributes?: Record<string, string> };
          };
          events.push({ action: e.Action, name: e.Actor?.Attributes?.name ?? '', at });
        }
      });
      res.on('error', () => {});
      resolve({ events, close: () => req.destroy() });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
  });
}
