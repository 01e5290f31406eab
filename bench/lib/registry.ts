// The fleet bench's own registry: distribution 2.8 (`docker-registry serve`)
// on 127.0.0.1 with its access log on, so the bytes every blob GET sent, and
// to whom, can be read back. Started and stopped by the bench; nothing else
// uses it.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface BenchRegistry {
  /** `127.0.0.1:PORT` */
  address: string;
  logFile: string;
  /** Bytes of the log so far: read the lines after it with `readLogSince`. */
  logOffset(): number;
  readLogSince(offset: number): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

/** Whether something answers on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts a registry storing under `dir` and logging (access log at info:
 * one combined-log line per request) to `dir/registry.log`. Refuses a port
 * that something already answers on.
 */
export async function startRegistry(dir: string, port: number): Promise<BenchRegistry> {
  if (!fs.existsSync(REGISTRY_BIN)) {
    throw new Error(
      `${REGISTRY_BIN} is missing (Debian package docker-registry; scripts/stack.sh up installs it)`,
    );
  }
  if (await portInUse(port)) {
    throw new Error(`127.0.0.1:${port} is in use; pass --registry-port with a free port`);
  }
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 'registry.yml');
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'registry.log');
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) child.kill('SIGKILL');
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`the registry exited at start: ${tailOf(logFile)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`, {
        signal: AbortSignal.timeout(1000),
      });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `the registry did not answer on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms`,
      );
    }
    await sleep(100);
  }
  return {
    address: `127.0.0.1:${port}`,
    logFile,
    logOffset: () => fs.statSync(logFile).size,
    readLogSince(offset) {
      const fdr = fs.openSync(logFile, 'r');
      try {
        const size = fs.fstatSync(fdr).size;
        const buf = Buffer.alloc(Math.max(0, size - offset));
        fs.readSync(fdr, buf, 0, buf.length, offset);
        return buf.toString('utf8');
      } finally {
        fs.closeSync(fdr);
      }
    },
    stop,
  };
}

function tailOf(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  bytes: number;
  userAgent: string;
  /** The gitdock host named in the user agent (`gitdock/<v> (host <name>)`, forwarded by dockerd as `UpstreamClient(...)`). */
  gitdockHost?: string;
  /** `sha256:…` for a blob request. */
  blob?: string;
}

// 127.0.0.1 - - [06/Dec/2026:06:09:18 +0000] "GET /v2/x/blobs/sha256:… HTTP/1.1" 200 4194304 "" "docker/20.10 … UpstreamClient(gitdock/0.1.0 (host web-1))"
const COMBINED =
  /^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) [^"]*" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)"/;
// dockerd escapes `();\` of the client's agent inside UpstreamClient(...) with a backslash.
const HOST_IN_AGENT = /gitdock\/[^\s()\\]+ \\?\(host ([^)\s\\]+)\\?\)/;
const BLOB_PATH = /\/blobs\/(sha256:[0-9a-f]{64})$/;

/** The access-log lines of a chunk of registry output (other log lines are skipped). */
export function parseAccessLog(text: string): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = COMBINED.exec(line.trim());
    if (!m) continue;
    // The combined log quotes the agent Go-style: \" and \\ inside.
    const userAgent = m[5]!.replace(/\\(["\\])/g, '$1');
    const entry: AccessLogEntry = {
      method: m[1]!,
      path: m[2]!,
      status: Number(m[3]),
      bytes: m[4] === '-' ? 0 : Number(m[4]),
      userAgent,
    };
    const host = HOST_IN_AGENT.exec(userAgent)?.[1];
    if (host) entry.gitdockHost = host;
    const blob = BLOB_PATH.exec(m[2]!.split('?')[0]!)?.[1];
    if (blob) entry.blob = blob;
    out.push(entry);
  }
  return out;
}

export interface BlobTraffic {
  /** Bytes of successful blob GETs per gitdock host (from the user agent). */
  bytesByHost: Record<string, number>;
  /** Blob GETs whose user agent names no gitdock host. */
  unattributedBytes: number;
  unattributedGets: number;
  /** How many successful GETs each blob had. */
  getsByBlob: Record<string, number>;
  totalBytes: number;
  /** The distinct user agents of those GETs (at most 5), to show what the engines sent. */
  userAgents: string[];
}

/** Sums the successful blob GETs of a log chunk by host and by blob. */
export function blobTraffic(entries: AccessLogEntry[]): BlobTraffic {
  const t: BlobTraffic = {
    bytesByHost: {},
    unattributedBytes: 0,
    unattributedGets: 0,
    getsByBlob: {},
    totalBytes: 0,
    userAgents: [],
  };
  for (const e of entries) {
    if (e.method !== 'GET' || !e.blob || e.status < 200 || e.status >= 300) continue;
    t.totalBytes += e.bytes;
    t.getsByBlob[e.blob] = (t.getsByBlob[e.blob] ?? 0) + 1;
    if (t.userAgents.length < 5 && !t.userAgents.includes(e.userAgent))
      t.userAgents.push(e.userAgent);
    if (e.gitdockHost) t.bytesByHost[e.gitdockHost] = (t.bytesByHost[e.gitdockHost] ?? 0) + e.bytes;
    else {
      t.unattributedBytes += e.bytes;
      t.unattributedGets++;
    }
  }
  return t;
}

export interface ManifestBlobs {
  /** The config and every layer: digest -> size in bytes. */
  blobs: Map<string, number>;
}

/** The blobs of `repo:tag` as the registry's schema-2 manifest lists them. */
export async function manifestBlobs(
  address: string,
  repo: string,
  tag: string,
): Promise<ManifestBlobs> {
  const res = await fetch(`http://${address}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`GET ${repo}:${tag} manifest: ${res.status}`);
  const m = (await res.json()) as {
    config: { digest: string; size: number };
    layers: { digest: string; size: number }[];
  };
  const blobs = new Map<string, number>([[m.config.digest, m.config.size]]);
  for (const l of m.layers) blobs.set(l.digest, l.size);
  return { blobs };
}
