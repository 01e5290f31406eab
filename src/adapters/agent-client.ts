import { formatDuration } from '../core/duration.js';
import { type AgentAnswer, parseAgentStatus } from '../core/fleet-status.js';
import { messageOf } from '../errors.js';

export interface FetchAgentStatusOptions {
  /** The whole request, body included, is given this long; one attempt, no retry. */
  timeoutMs: number;
  /** Defaults to Node's fetch; tests may pass another. */
  fetch?: typeof fetch;
}

/**
 * `GET <agent>/status`, once, bounded by a timeout. Never rejects: an agent
 * that cannot be asked is an answer (`ok: false`, with why), since status
 * reports it rather than failing.
 */
export async function fetchAgentStatus(
  agentUrl: string,
  host: string,
  options: FetchAgentStatusOptions,
): Promise<AgentAnswer> {
  const doFetch = options.fetch ?? fetch;
  const url = new URL('status', agentUrl.endsWith('/') ? agentUrl : `${agentUrl}/`);
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    // A redirect would send the request somewhere gitdock.yaml does not name.
    const res = await doFetch(url, {
      signal,
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return { ok: false, error: `GET /status answered HTTP ${res.status}` };
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, error: 'not a gitdock agent status: the answer is not JSON' };
    }
    return parseAgentStatus(body, host);
  } catch (err) {
    if (signal.aborted)
      return { ok: false, error: `no answer in ${formatDuration(options.timeoutMs)}` };
    return { ok: false, error: reasonOf(err) };
  }
}

/** undici says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, ...) is in `cause`. */
function reasonOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const nested = (cause as { errors?: unknown }).errors;
    // An AggregateError (IPv4 and IPv6 both refused) has an empty message.
    if (!cause.message && Array.isArray(nested) && nested[0] instanceof Error)
      return nested[0].message;
    if (cause.message) return cause.message;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return messageOf(err);
}
