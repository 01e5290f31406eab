/**
 * The `Engine` over the Docker Engine API, through dockerode. This is the one
 * place that knows dockerode's pitfalls (DESIGN.md section 5):
 *
 * - `pull()` resolves when the stream opens, and a pull answers 200 and
 *   reports failure inside the stream: `pullImage` reads the stream to its
 *   end and fails on any `error` event.
 * - For streaming requests the engine's error body is only folded into
 *   `err.message` (`err.json` is null), so `engineMessage` digs it out.
 * - 304 on start/stop means "already"; 404 on remove means "already gone".
 * - Non-streaming GETs are JSON-parsed when they happen to be JSON, so logs
 *   are read as a raw stream and demultiplexed here.
 * - The Modem reads `DOCKER_HOST` and friends from `process.env` itself and
 *   merges them under our options, so every connection field is set
 *   explicitly (see `resolveDockerHost`).
 * - The Modem has no deadline (its `timeout` is an idle timer on the socket,
 *   and DOCKER_CLIENT_TIMEOUT would cut long pulls), so an engine that
 *   accepts a connection and never answers would hang every call. Each call
 *   here has its own deadline (`call`): an AbortSignal handed to the request
 *   (the `abortSignal` option, which `http.request` honours while connecting,
 *   waiting and reading) and a race against it, so the call rejects on time
 *   however the modem reports the abort. dockerode's `image.inspect` ignores
 *   `abortSignal`; images are inspected through `modem.dial`.
 * - A pull has no deadline (big images take long), but a registry that sends
 *   headers and then nothing stalls it forever: `pullImage` cuts a pull that
 *   streams no bytes for `pullStallMs`, and on its caller's signal. That
 *   frees gitdock, not the engine: dockerd 20.10 keeps its own request for a
 *   stalled layer open after its client has gone, until the registry closes it.
 * - The events stream is JSON lines in arbitrary chunks, and an engine that
 *   stops cuts it: `aborted`, an ECONNRESET `error` (only if someone listens),
 *   `close`, but never `end`, so code waiting for `end` waits forever.
 *   `watchEvents` splits lines itself and takes every way the stream stops
 *   as its end. Only opening it has a deadline.
 * - The host lock is a volume, not a network: `POST /networks/create` with
 *   `CheckDuplicate` answers 409 to a second create of a name only when the
 *   first has finished; concurrent creates of one name all succeed (dockerd
 *   20.10: six at once made six networks of one name). The engine creates
 *   volumes under a lock per name, and a create of an existing name answers
 *   201 with the existing volume, so `createLock` puts a random token in the
 *   labels and has won only if the volume that comes back carries it. A
 *   volume's only ID is its name, so a lock's ID is `<name>@<token>`.
 * - API 1.41 takes one network endpoint at create (more are refused), so
 *   `createContainer` creates on the first network and connects the others
 *   before it returns. `GET /networks` leaves out attached containers (from
 *   API 1.28), so `listNetworks` reads them from the container list.
 * - An engine ignores body fields newer than its API, so settings it cannot
 *   carry (volume `Subpath`: 1.45) are refused before the create instead of
 *   silently dropped.
 *
 * dockerode is heavy to import (it pulls in ssh2); the CLI imports this
 * module lazily, only for commands that talk to an engine.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import type {
  ContainerStatus,
  CreateContainerOptions,
  Engine,
  EngineEvent,
  EngineLock,
  PullProgress,
} from '../core/engine.js';
import type {
  ActualContainer,
  ActualNetwork,
  ActualVolume,
  DesiredNetwork,
  DesiredVolume,
} from '../core/types.js';
import { GitdockError } from '../errors.js';
import {
  type EngineEndpointConfig,
  primaryNetwork,
  toCreateBody,
  toCreateQuery,
  toNetworkConnects,
} from './container-config.js';
import { dockerConfigDir, parseImageRef, readRegistryAuth } from './registry-auth.js';

export interface DockerEngineOptions {
  /** Engine address in `DOCKER_HOST` syntax; defaults to `$DOCKER_HOST`, then the local socket. */
  dockerHost?: string;
  /** Directory with `config.json` (registry logins, TLS certs); defaults like the docker CLI. */
  dockerConfigDir?: string;
  /**
   * Deadline of each engine request, in ms: list, inspect, create, start,
   * rename, remove, logs, the lock objects, opening the events stream; a stop
   * gets the container's grace period on top. Default `REQUEST_TIMEOUT_MS`.
   */
  requestTimeoutMs?: number;
  /** A pull that streams no bytes for this long (ms) is cut. Default `PULL_STALL_MS`. */
  pullStallMs?: number;
  /**
   * The `User-Agent` of every request to the engine (see `gitdockUserAgent`).
   * dockerd passes it on to registries as `UpstreamClient(...)` in its own
   * user agent, so a registry's access log says which host pulled. Without
   * it no `User-Agent` is sent, and registries see only the engine's.
   */
  userAgent?: string;
}

/**
 * `gitdock/<version> (host <name>)`: what the engine adapter sends as its
 * user agent. Characters a header cannot carry, and the parentheses that
 * delimit the comment, become `_`.
 */
export function gitdockUserAgent(version: string, host: string): string {
  const clean = (text: string) => text.replace(/[^\x21-\x7e]|[()\\]/g, '_');
  return `gitdock/${clean(version)} (host ${clean(host)})`;
}

const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * Deadline of one engine request. The engine answers these in milliseconds,
 * seconds when busy (a remove that deletes a large writable layer, a create
 * on a loaded host); no answer in 30 s means it hangs, and a hung engine must
 * not hang the agent with it. A stop gets the grace period on top: the engine
 * answers only once the container has exited or been killed.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A pull is cut after this long without a byte from the engine. Not a
 * deadline on the whole pull: a big image on a slow link takes long but keeps
 * streaming progress (the engine reports at least every 512 KiB of a layer,
 * so only links slower than about 4 KiB/s stay silent this long). Two
 * minutes of silence means the registry, or the network to it, stalled.
 */
export const PULL_STALL_MS = 120_000;

/** How long `ping` waits for the engine's answer (a health probe answers sooner than other calls). */
const PING_TIMEOUT_MS = 10_000;

/** setTimeout fires at once for delays above 2^31-1 ms; longer deadlines are clamped to that (24 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The label that marks a volume as a gitdock lock object (see `createLock`). */
const LOCK_LABEL = 'io.gitdock.lock';
/** A random value per `createLock` call: found on the volume only by the call that made it. */
const LOCK_TOKEN_LABEL = 'io.gitdock.lock-token';

/** Connection settings for dockerode's Modem, plus the address as the user wrote it, for messages. */
export interface DockerConnection {
  /** The address in `DOCKER_HOST` form, e.g. `unix:///var/run/docker.sock`. */
  display: string;
  /** Unix socket path, when the engine is reached over one. */
  socketPath?: string;
  modemOptions: Docker.DockerOptions & { pathPrefix?: string };
}

/**
 * Parses a `DOCKER_HOST` value the way the docker CLI does, for the forms
 * gitdock supports: unset → `/var/run/docker.sock`, `unix:///path`,
 * `tcp://host[:port]` (port 2375, or 2376 with TLS). With `DOCKER_TLS_VERIFY`
 * set, `tcp://` uses TLS with `ca.pem`, `cert.pem` and `key.pem` from
 * `DOCKER_CERT_PATH` (default: the docker config dir).
 *
 * Not supported, and refused with a message: `ssh://` and `npipe://` hosts,
 * `DOCKER_TLS` without verification (dockerode cannot skip verification),
 * and docker contexts (`DOCKER_CONTEXT`, `docker context use`): set
 * `DOCKER_HOST` instead.
 */
export function resolveDockerHost(
  dockerHost: string | undefined,
  env: Record<string, string | undefined>,
  configDir: string,
): DockerConnection {
  // Every field the Modem would otherwise fill from process.env.
  const base = {
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: 'http' as const,
    ca: undefined,
    cert: undefined,
    key: undefined,
    pathPrefix: '/',
    // DOCKER_CLIENT_TIMEOUT would cut long pulls; DockerEngine gives each call its own deadline.
    timeout: undefined,
    username: undefined,
    version: undefined,
  };
  const value = dockerHost === undefined || dockerHost === '' ? undefined : dockerHost;
  if (value === undefined) {
    return {
      display: `unix://${DEFAULT_SOCKET}`,
      socketPath: DEFAULT_SOCKET,
      modemOptions: { ...base, socketPath: DEFAULT_SOCKET },
    };
  }
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length) || DEFAULT_SOCKET;
    return { display: value, socketPath, modemOptions: { ...base, socketPath } };
  }
  if (value.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw unsupportedHost(value, 'it is not a valid tcp://host:port address');
    }
    if (url.pathname !== '/' && url.pathname !== '') {
      throw unsupportedHost(value, 'a path after host:port is not supported');
    }
    if (env.DOCKER_TLS !== undefined && env.DOCKER_TLS !== '' && !isSet(env.DOCKER_TLS_VERIFY)) {
      throw unsupportedHost(
        value,
        'DOCKER_TLS without DOCKER_TLS_VERIFY (TLS without verification) is not supported; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH',
      );
    }
    const tls = isSet(env.DOCKER_TLS_VERIFY);
    const port = url.port || (tls ? '2376' : '2375');
    const host = url.hostname;
    if (!tls) {
      return { display: value, modemOptions: { ...base, host, port } };
    }
    const certDir = isSet(env.DOCKER_CERT_PATH) ? env.DOCKER_CERT_PATH! : configDir;
    const read = (name: string): Buffer => {
      const path = join(certDir, name);
      try {
        return readFileSync(path);
      } catch (err) {
        throw new GitdockError(
          'GITDOCK_E_ENGINE_UNREACHABLE',
          `Cannot reach the Docker engine at ${value}: DOCKER_TLS_VERIFY is set but ${path} cannot be read (${(err as Error).message}). Put ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH.`,
          { dockerHost: value, path },
          { cause: err },
        );
      }
    };
    return {
      display: value,
      modemOptions: {
        ...base,
        host,
        port,
        protocol: 'https',
        ca: read('ca.pem'),
        cert: read('cert.pem'),
        key: read('key.pem'),
      },
    };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  throw unsupportedHost(
    value,
    scheme === undefined
      ? 'write it as unix:///path/to/docker.sock or tcp://host:port'
      : `the ${scheme}:// scheme is not supported; use unix:// or tcp://`,
  );
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

function unsupportedHost(dockerHost: string, why: string): GitdockError {
  return new GitdockError(
    'GITDOCK_E_ENGINE_UNREACHABLE',
    `Cannot reach the Docker engine at DOCKER_HOST=${dockerHost}: ${why}.`,
    { dockerHost },
  );
}

/**
 * Creates the engine adapter. `DOCKER_HOST` and the docker config dir come
 * from the environment unless given. Throws `GITDOCK_E_ENGINE_UNREACHABLE`
 * for an address it cannot use; nothing is sent to the engine yet.
 */
export function createDockerEngine(options: DockerEngineOptions = {}): Engine {
  const env = process.env;
  const configDir = options.dockerConfigDir ?? dockerConfigDir(env, homedir());
  const connection = resolveDockerHost(options.dockerHost ?? env.DOCKER_HOST, env, configDir);
  let docker: Docker;
  try {
    // The Modem copies its `headers` into every request it makes, dockerode's own
    // calls and `modem.dial` alike; this module never passes per-call headers,
    // which would replace them.
    docker = new Docker(
      options.userAgent === undefined
        ? connection.modemOptions
        : { ...connection.modemOptions, headers: { 'User-Agent': options.userAgent } },
    );
  } catch (err) {
    // The Modem parses process.env.DOCKER_HOST (and reads its TLS files) even when told otherwise.
    throw new GitdockError(
      'GITDOCK_E_ENGINE_UNREACHABLE',
      `Cannot set up the Docker engine client for ${connection.display}: ${(err as Error).message}. Check DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.`,
      { dockerHost: connection.display },
      { cause: err },
    );
  }
  return new DockerEngine(docker, connection, configDir, {
    requestTimeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    pullStallMs: options.pullStallMs ?? PULL_STALL_MS,
  });
}

/** The parts of a dockerode/modem error this module reads. */
interface ModemError extends Error {
  statusCode?: number;
  json?: unknown;
  code?: string;
}

const UNREACHABLE_HINTS: Record<string, string> = {
  ENOENT: 'no socket exists at that path; start dockerd or point DOCKER_HOST at its socket',
  ECONNREFUSED: 'nothing accepts connections there; start dockerd or fix DOCKER_HOST',
  EACCES: 'permission denied on the socket; run as root or as a member of the docker group',
  EPERM: 'permission denied on the socket; run as root or as a member of the docker group',
  ENOTDIR: 'the socket path is wrong; fix DOCKER_HOST',
  ENOTFOUND: 'the host name does not resolve; fix DOCKER_HOST',
  EAI_AGAIN: 'the host name does not resolve; fix DOCKER_HOST',
  ETIMEDOUT: 'the connection timed out; check DOCKER_HOST and the network',
  EHOSTUNREACH: 'the host is unreachable; check DOCKER_HOST and the network',
  ENETUNREACH: 'the network is unreachable; check DOCKER_HOST and the network',
  ECONNRESET: 'the engine closed the connection; check that dockerd is healthy',
  EPIPE: 'the engine closed the connection; check that dockerd is healthy',
};

/** The engine's own error text: `json.message`, or for streams the text the modem folded into `message`. */
function engineMessage(err: ModemError): string {
  const json = err.json;
  if (typeof json === 'object' && json !== null && !Buffer.isBuffer(json)) {
    const message = (json as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message;
  }
  if (typeof json === 'string' && json.trim() !== '') return json.trim();
  if (Buffer.isBuffer(json) && json.length > 0) return json.toString('utf8').trim();
  // "(HTTP code 404) unexpected - manifest for x not found: manifest unknown "
  const folded = /^\(HTTP code \d+\) .*? - ([\s\S]*)$/.exec(err.message);
  return (folded?.[1] ?? err.message).trim();
}

function isUnreachable(err: unknown): err is ModemError {
  const e = err as ModemError;
  return (
    e instanceof Error &&
    e.statusCode === undefined &&
    e.code !== undefined &&
    e.code in UNREACHABLE_HINTS
  );
}

function statusOf(err: unknown): number | undefined {
  return err instanceof Error ? (err as ModemError).statusCode : undefined;
}

/** Layer statuses of the pull stream; other events (`Pulling from`, `Digest:`) carry no layer. */
const LAYER_STATUSES = new Set([
  'Pulling fs layer',
  'Waiting',
  'Downloading',
  'Verifying Checksum',
  'Download complete',
  'Extracting',
  'Pull complete',
  'Already exists',
]);

interface PullEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

interface LayerProgress {
  done: boolean;
  current: number;
  total: number;
}

/** Aggregates the pull stream's per-layer events into one `PullProgress`. */
class PullProgressTracker {
  private readonly layers = new Map<string, LayerProgress>();

  constructor(private readonly ref: string) {}

  /** Applies one event; true when it was about a layer. */
  apply(event: PullEvent): boolean {
    const { status, id } = event;
    if (status === undefined || id === undefined) return false;
    if (!LAYER_STATUSES.has(status) && !status.startsWith('Retrying')) return false;
    let layer = this.layers.get(id);
    if (layer === undefined) {
      layer = { done: false, current: 0, total: 0 };
      this.layers.set(id, layer);
    }
    const detail = event.progressDetail;
    switch (status) {
      case 'Downloading':
        if (typeof detail?.total === 'number' && detail.total > 0) layer.total = detail.total;
        if (typeof detail?.current === 'number') layer.current = detail.current;
        break;
      case 'Verifying Checksum':
      case 'Download complete':
        layer.current = Math.max(layer.current, layer.total);
        break;
      case 'Pull complete':
        layer.current = Math.max(layer.current, layer.total);
        layer.done = true;
        break;
      case 'Already exists':
        layer.done = true;
        break;
      default:
        // `Extracting` reports extraction, not download, progress; `Retrying in N seconds` restarts.
        if (status.startsWith('Retrying')) layer.current = 0;
    }
    return true;
  }

  snapshot(): PullProgress {
    let layersDone = 0;
    let bytesDone = 0;
    let bytesTotal = 0;
    for (const layer of this.layers.values()) {
      if (layer.done) layersDone += 1;
      bytesDone += layer.current;
      bytesTotal += layer.total;
    }
    return { ref: this.ref, layersTotal: this.layers.size, layersDone, bytesDone, bytesTotal };
  }
}

/**
 * Reads a JSON-lines progress stream to its end. Not `modem.followProgress`:
 * that one throws from inside the `data` handler on a line that is not JSON
 * (an uncaught exception, not a rejection) and reports a stream cut before
 * its end (`close` without `end`) as success.
 */
function readJsonLines(
  stream: NodeJS.ReadableStream,
  signal: AbortSignal,
  onChunk: () => void,
  onEvent: (event: PullEvent) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const decoder = new TextDecoder();
    const onAbort = () => fail(signal.reason);
    const handleLine = (line: string) => {
      const text = line.trim();
      if (text === '') return;
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        return; // Not a progress event; the engine only writes JSON here.
      }
      if (typeof event === 'object' && event !== null) onEvent(event as PullEvent);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      reject(err);
      // Stop reading and close the connection; the engine may carry on with the pull on its own.
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    };
    stream.on('data', (chunk: Buffer | string) => {
      if (settled) return;
      onChunk();
      buffered += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      // A throwing progress callback must reject the pull, not escape from this event handler.
      try {
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          handleLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
        }
      } catch (err) {
        fail(err);
      }
    });
    stream.on('end', () => {
      if (settled) return;
      try {
        handleLine(buffered + decoder.decode());
      } catch (err) {
        fail(err);
        return;
      }
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    stream.on('error', fail);
    stream.on('close', () => fail(new Error('the engine closed the stream before it ended')));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}

/**
 * Splits newline-delimited JSON: `pending` (the unfinished line kept from
 * before) plus the next decoded `chunk` give the complete lines' values and
 * the new unfinished line. A chunk may end mid-line or hold several lines;
 * blank lines and lines that are not JSON are skipped. At the end of a
 * stream, pass the rest followed by `'\n'` to read a last unterminated line.
 */
export function splitJsonLines(
  pending: string,
  chunk: string,
): { values: unknown[]; rest: string } {
  const text = pending + chunk;
  const lines = text.split('\n');
  const rest = lines.pop() ?? '';
  const values: unknown[] = [];
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    try {
      values.push(JSON.parse(trimmed));
    } catch {
      // Skipped: the engine writes only JSON here, and one bad line must not end the watch.
    }
  }
  return { values, rest };
}

/** The fields of an Engine API event (`GET /events`) that `toEngineEvent` reads. */
interface RawEngineEvent {
  Type?: unknown;
  Action?: unknown;
  status?: unknown;
  id?: unknown;
  Actor?: { ID?: unknown; Attributes?: Record<string, unknown> };
  time?: unknown;
  timeNano?: unknown;
}

/**
 * Maps one parsed line of the events stream to an `EngineEvent`; undefined
 * for anything that is not a container event with an action and an ID.
 * `Action`/`Actor` are the current fields; `status`/`id` the legacy ones
 * that engines before API 1.22 sent alone.
 */
export function toEngineEvent(value: unknown): EngineEvent | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const raw = value as RawEngineEvent;
  if (raw.Type !== undefined && raw.Type !== 'container') return undefined;
  const action = stringField(raw.Action) ?? stringField(raw.status);
  const containerId = stringField(raw.Actor?.ID) ?? stringField(raw.id);
  if (action === undefined || containerId === undefined) return undefined;
  const attributes = raw.Actor?.Attributes ?? {};
  const time =
    typeof raw.timeNano === 'number' && raw.timeNano > 0
      ? raw.timeNano / 1e6
      : typeof raw.time === 'number'
        ? raw.time * 1000
        : Date.now();
  const event: EngineEvent = { action, containerId, time };
  const name = stringField(attributes.name);
  if (name !== undefined) event.name = name;
  const service = stringField(attributes['io.gitdock.service']);
  if (service !== undefined) event.service = service;
  return event;
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Demultiplexes the logs of a non-TTY container: frames of an 8-byte header
 * (stream type 0/1/2, three zero bytes, big-endian length) and a payload.
 * A TTY container's logs have no frames; from the first byte that is not a
 * frame header the rest is taken as raw text. Payloads are joined before
 * decoding because a frame may end inside a UTF-8 sequence.
 */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset]!;
    const isHeader =
      type <= 2 && buffer[offset + 1] === 0 && buffer[offset + 2] === 0 && buffer[offset + 3] === 0;
    if (!isHeader) break;
    const length = buffer.readUInt32BE(offset + 4);
    const end = Math.min(offset + 8 + length, buffer.length);
    parts.push(buffer.subarray(offset + 8, end));
    offset = end;
  }
  if (offset < buffer.length) parts.push(buffer.subarray(offset));
  return Buffer.concat(parts).toString('utf8');
}

/** Reads a stream to its end; a cut stream, or `signal` aborting, rejects (and destroys it). */
function readAll(stream: IncomingMessage, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) {
        resolve(Buffer.concat(chunks));
      } else {
        stream.destroy();
        reject(err);
      }
    };
    const onAbort = () => settle(signal.reason);
    stream.on('data', (chunk: Buffer | string) => {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    });
    stream.on('end', () => settle());
    stream.on('error', (err) => settle(err));
    stream.on('close', () => settle(new Error('the engine closed the stream before it ended')));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}

/**
 * `work`, or a rejection with `signal.reason` as soon as the signal aborts,
 * whichever comes first. A stream that `work` opens after the abort is
 * destroyed, not left open.
 */
function raceAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) {
          (value as { destroy?: () => void } | undefined)?.destroy?.();
          return;
        }
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
    if (signal.aborted) onAbort();
  });
}

/** `1.5 s`, `300 ms`: a duration for messages. */
function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/** Why a caller aborted, for a message: its reason when that is text, else a generic phrase. */
function abortReason(reason: unknown): string {
  if (typeof reason === 'string' && reason !== '') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') {
    return reason.message;
  }
  return 'its caller aborted it';
}

/** The `io.gitdock.*` entries of a label set, or undefined when there are none. */
function gitdockLabels(
  labels: Record<string, string> | null | undefined,
): Record<string, string> | undefined {
  const entries = Object.entries(labels ?? {}).filter(([key]) => key.startsWith('io.gitdock.'));
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

/** A volume as `POST /volumes/create` and `GET /volumes/{name}` describe it (the fields read here). */
interface RawVolume {
  Name: string;
  Driver?: string;
  Labels?: Record<string, string> | null;
  CreatedAt?: string;
}

/** A network as `GET /networks` describes it (the fields read here). */
interface RawNetwork {
  Id: string;
  Name: string;
  Labels?: Record<string, string> | null;
}

/** Name prefix of the host lock volumes (`hostLockName` in core/host-lock.ts). */
const LOCK_NAME_PREFIX = 'gitdock-lock.';

/** gitdock's lock objects are volumes (see `createLock`), not data: `listVolumes` leaves them out. */
function isLockVolume(volume: RawVolume): boolean {
  return volume.Name.startsWith(LOCK_NAME_PREFIX) || volume.Labels?.[LOCK_LABEL] !== undefined;
}

/** Orders Engine API versions (`1.41` < `1.45`); a part that is not a number counts as 0. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number(x) || 0);
  const pb = b.split('.').map((x) => Number(x) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * A lock volume as a lock record. Its ID is `<volume name>@<token>`, not the
 * name alone: unique per create, like an engine object ID, so a lock removed
 * and taken again by another process never has the ID of the one before
 * (callers compare IDs to know they still hold it, and remove by ID). A
 * volume without a token (not made by `createLock`) has its name as ID.
 */
function toEngineLock(volume: RawVolume): EngineLock {
  const labels = volume.Labels ?? {};
  const token = labels[LOCK_TOKEN_LABEL];
  return {
    id: token === undefined ? volume.Name : `${volume.Name}@${token}`,
    name: volume.Name,
    labels,
    createdAt: isoTime(volume.CreatedAt),
  };
}

/** The volume name and token in a lock ID (see `toEngineLock`); `@` cannot occur in a volume name. */
function parseLockId(id: string): { name: string; token?: string } {
  const at = id.indexOf('@');
  return at < 0 ? { name: id } : { name: id.slice(0, at), token: id.slice(at + 1) };
}

/** The engine's RFC 3339 time (nanoseconds, any offset) as an ISO time in UTC; as given when it does not parse. */
function isoTime(value: string | undefined): string {
  if (value === undefined) return '';
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/**
 * Reads an open events stream until it ends, is cut, or `signal` aborts;
 * the stream is destroyed in every case, so its socket is not left open.
 * A throwing `onEvent` rejects with its error.
 */
function readEvents(
  stream: IncomingMessage,
  signal: AbortSignal,
  onEvent: (event: EngineEvent) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new TextDecoder();
    let pending = '';
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stream.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => settle();
    const deliver = (values: unknown[]) => {
      for (const value of values) {
        const event = toEngineEvent(value);
        if (event === undefined) continue;
        try {
          onEvent(event);
        } catch (err) {
          settle(err);
          return;
        }
      }
    };
    stream.on('data', (chunk: Buffer | string) => {
      if (settled) return;
      const split = splitJsonLines(
        pending,
        typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }),
      );
      pending = split.rest;
      deliver(split.values);
    });
    stream.on('end', () => {
      if (!settled) deliver(splitJsonLines(pending + decoder.decode(), '\n').values);
      settle();
    });
    // A cut stream (engine stopped, connection reset) emits `close` (and `error`, when listened
    // for) but no `end`; the unfinished line is dropped.
    stream.on('error', () => settle());
    stream.on('close', () => settle());
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) settle();
  });
}

/** Docker reports a never-started container's StartedAt as the zero time. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * The container events that can mean drift or a health change. Health checks
 * run as execs, so without this filter every check of every container (one
 * `exec_create`, `exec_start`, `exec_die` each) would wake the agent.
 * `health_status` matches its `health_status: healthy|unhealthy` forms.
 */
export const CONTAINER_STATE_EVENTS = [
  'create',
  'start',
  'restart',
  'die',
  'kill',
  'oom',
  'stop',
  'destroy',
  'rename',
  'pause',
  'unpause',
  'update',
  'health_status',
] as const;

/** The deadlines of one `DockerEngine` (see `DockerEngineOptions`). */
interface Deadlines {
  requestTimeoutMs: number;
  pullStallMs: number;
}

class DockerEngine implements Engine {
  /**
   * `io.gitdock.*` labels by image ID (null: none). An image ID is the digest
   * of the image's config, labels included, so an entry never goes stale;
   * entries of images no longer in use by a labelled container are dropped
   * at each listing.
   */
  private readonly imageLabels = new Map<string, Record<string, string> | null>();
  private apiVersionAnswer: Promise<string> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly connection: DockerConnection,
    private readonly configDir: string,
    private readonly deadlines: Deadlines,
  ) {}

  async listContainers(): Promise<ActualContainer[]> {
    const list = await this.call('list containers', {}, (abortSignal) =>
      this.docker.listContainers({ all: true, abortSignal }),
    );
    // Only containers that carry gitdock labels need their image's: the question is whether
    // those labels are the container's own or inherited from a `docker commit` of one.
    const labelled = list.filter((c) => gitdockLabels(c.Labels) !== undefined);
    const imageIds = [...new Set(labelled.map((c) => c.ImageID).filter((id) => id))];
    const byImage = new Map(
      await Promise.all(
        imageIds.map(async (id) => [id, await this.imageGitdockLabels(id)] as const),
      ),
    );
    for (const id of this.imageLabels.keys()) {
      if (!byImage.has(id)) this.imageLabels.delete(id);
    }
    return list.map((c) => {
      const container: ActualContainer = {
        id: c.Id,
        name: primaryName(c.Names),
        labels: c.Labels ?? {},
        state: c.State,
        imageId: c.ImageID,
      };
      const inherited = byImage.get(c.ImageID);
      if (inherited !== undefined && gitdockLabels(c.Labels) !== undefined) {
        container.imageGitdockLabels = { ...inherited };
      }
      return container;
    });
  }

  /**
   * The `io.gitdock.*` labels of an image, by ID; undefined when it has none,
   * is gone, or cannot be inspected: a failed inspect must not fail the
   * listing, and is asked again at the next one.
   */
  private async imageGitdockLabels(imageId: string): Promise<Record<string, string> | undefined> {
    const cached = this.imageLabels.get(imageId);
    if (cached !== undefined) return cached ?? undefined;
    let info: { Config?: { Labels?: Record<string, string> | null } | null };
    try {
      info = await this.inspectImage(imageId);
    } catch {
      return undefined;
    }
    const labels = gitdockLabels(info.Config?.Labels);
    this.imageLabels.set(imageId, labels ?? null);
    return labels;
  }

  async inspectContainer(id: string): Promise<ContainerStatus> {
    const info = await this.call('inspect container', { id }, (abortSignal) =>
      this.docker.getContainer(id).inspect({ abortSignal }),
    );
    const status: ContainerStatus = {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      state: info.State.Status,
      running: info.State.Running,
      exitCode: info.State.ExitCode,
      restartCount: info.RestartCount,
    };
    if (info.State.Health?.Status) status.health = info.State.Health.Status;
    if (info.State.StartedAt && info.State.StartedAt !== ZERO_TIME) {
      status.startedAt = info.State.StartedAt;
    }
    if (info.State.Error) status.error = info.State.Error;
    return status;
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.inspectImage(ref)).Id;
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 404) return undefined;
      throw err;
    }
  }

  /** `GET /images/{ref}/json` (the path as dockerode builds it): its `image.inspect` ignores `abortSignal`. */
  private inspectImage(ref: string): Promise<Docker.ImageInspectInfo> {
    return this.call('inspect image', { ref }, (abortSignal) =>
      this.dial<Docker.ImageInspectInfo>({
        path: `/images/${ref}/json`,
        method: 'GET',
        abortSignal,
        statusCodes: { 200: true, 404: 'no such image', 500: 'server error' },
      }),
    );
  }

  async pullImage(
    ref: string,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const parsed = parseImageRef(ref);
    const fail = (
      message: string,
      cause?: unknown,
      extra: Record<string, unknown> = {},
      problem?: string,
    ): GitdockError => {
      const note = problem === undefined ? '' : ` (registry login not used: ${problem})`;
      return new GitdockError(
        'GITDOCK_E_PULL_FAILED',
        `Cannot pull ${ref}: ${message}${note}`,
        {
          ref,
          registry: parsed.registry,
          dockerHost: this.connection.display,
          ...extra,
          ...(problem === undefined ? {} : { configProblem: problem }),
        },
        cause === undefined ? undefined : { cause },
      );
    };
    const abortedMessage = () => `cut before it finished: ${abortReason(signal?.reason)}`;
    if (signal?.aborted) throw fail(abortedMessage(), undefined, { aborted: true });
    const lookup = await readRegistryAuth(ref, {
      configDir: this.configDir,
      fs: { readFile },
    });
    const query = {
      fromImage: parsed.repository,
      // Without a tag the engine would pull every tag of the repository.
      tag: parsed.digest ?? parsed.tag ?? 'latest',
    };
    const tracker = new PullProgressTracker(ref);
    let streamError: string | undefined;

    // One signal for the request and its stream, aborted by the caller's signal or by the stall
    // timer: it destroys the request while the engine has not answered yet (http.request), and
    // the stream once it has (readJsonLines).
    const { pullStallMs } = this.deadlines;
    const cut = new AbortController();
    let cutWhy: { message: string; stalled: boolean } | undefined;
    const cutPull = (message: string, stalled: boolean) => {
      if (cutWhy !== undefined) return;
      cutWhy = { message, stalled };
      cut.abort(new Error(message));
    };
    const onAbort = () => cutPull(abortedMessage(), false);
    const stall = setTimeout(
      () =>
        cutPull(
          `cut after ${formatDuration(pullStallMs)} without progress: the registry stalled (or the engine stopped answering)`,
          true,
        ),
      Math.min(pullStallMs, MAX_TIMER_MS),
    );
    // Any byte from the engine is progress; headers count too.
    const progressed = () => stall.refresh();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort(); // while the registry login was read
    try {
      const options = { ...query, abortSignal: cut.signal };
      const stream = await raceAbort(
        cut.signal,
        lookup.auth === undefined
          ? this.docker.createImage(options)
          : this.docker.createImage(lookup.auth, options),
      );
      progressed();
      await readJsonLines(stream, cut.signal, progressed, (event) => {
        if (event.error !== undefined || event.errorDetail !== undefined) {
          streamError ??= event.errorDetail?.message ?? event.error ?? 'unknown error';
          return;
        }
        if (tracker.apply(event)) onProgress?.(tracker.snapshot());
      });
    } catch (err) {
      if (cutWhy !== undefined) {
        throw fail(
          cutWhy.message,
          err,
          { aborted: true, ...(cutWhy.stalled ? { stalled: true, pullStallMs } : {}) },
          lookup.problem,
        );
      }
      if (isUnreachable(err) && (err as ModemError).code !== 'ECONNRESET') {
        throw this.unreachable(err, 'pull image', { ref });
      }
      if (err instanceof Error) {
        // The engine answers 404 (no such tag/repository) or 500 (registry unreachable) with the
        // registry's message before streaming; a cut stream lands here too.
        const statusCode = statusOf(err);
        throw fail(
          engineMessage(err),
          err,
          statusCode === undefined ? {} : { statusCode },
          lookup.problem,
        );
      }
      throw fail(String(err), err, {}, lookup.problem);
    } finally {
      clearTimeout(stall);
      signal?.removeEventListener('abort', onAbort);
    }
    if (streamError !== undefined) throw fail(streamError, undefined, {}, lookup.problem);
    // A stream that ended without an error event and without the image is still a failed pull.
    const id = await this.imageId(ref);
    if (id === undefined) {
      throw fail(
        'the engine finished the pull but the image is not on the host',
        undefined,
        {},
        lookup.problem,
      );
    }
    onProgress?.(tracker.snapshot());
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    const body = toCreateBody(options);
    const connects = toNetworkConnects(options.spec);
    await this.refuseUnsupported(options, connects);
    // Through the modem: dockerode's createContainer also copies the whole body (environment
    // values included) into the query string; `_query`/`_body` keep them apart.
    const result = await this.call('create container', { name: options.name }, (abortSignal) =>
      this.dial<{ Id: string }>({
        path: '/containers/create?',
        method: 'POST',
        abortSignal,
        options: { _query: toCreateQuery(options), _body: body },
        statusCodes: {
          200: true,
          201: true,
          400: 'bad parameter',
          404: 'no such image',
          409: 'conflict',
          500: 'server error',
        },
      }),
    );
    // API 1.41 takes one network at create; the others are joined before anyone sees the
    // container, so a caller gets a container on all its networks or none.
    for (const { network, endpoint } of connects) {
      try {
        await this.connectNetwork(result.Id, options.name, network, endpoint);
      } catch (err) {
        await this.removeContainer(result.Id).catch(() => {});
        throw err;
      }
    }
    return result.Id;
  }

  /** `POST /networks/{id}/connect` of a container that is not started yet. */
  private async connectNetwork(
    containerId: string,
    name: string,
    network: string,
    endpoint: EngineEndpointConfig,
  ): Promise<void> {
    try {
      await this.call('connect network', { id: network, container: name }, (abortSignal) =>
        this.dial<unknown>({
          path: `/networks/${encodeURIComponent(network)}/connect`,
          method: 'POST',
          abortSignal,
          options: { _body: { Container: containerId, EndpointConfig: endpoint } },
          statusCodes: {
            200: true,
            400: 'bad parameter',
            403: 'operation not supported',
            404: 'no such network or container',
            500: 'server error',
          },
        }),
      );
    } catch (err) {
      if (!(err instanceof GitdockError) || err.code !== 'GITDOCK_E_ENGINE_REQUEST') throw err;
      throw new GitdockError(
        'GITDOCK_E_ENGINE_REQUEST',
        `Docker engine refused to connect container ${name} to network ${network} (the container was removed again): ${engineMessage(err.cause as ModemError)}`,
        err.data,
        { cause: err.cause },
      );
    }
  }

  /**
   * Settings the engine's API version cannot carry are refused before
   * anything is created: an older engine ignores fields it does not know, so
   * sending them would make a container that silently differs from its spec.
   */
  private async refuseUnsupported(
    options: CreateContainerOptions,
    connects: readonly { network: string; endpoint: EngineEndpointConfig }[],
  ): Promise<void> {
    const needs: { what: string; api: string }[] = [];
    const subpath = options.spec.volumes.find((v) => v.subpath !== undefined);
    if (subpath !== undefined) {
      needs.push({ what: `volume subpath (on ${subpath.target})`, api: '1.45' });
    }
    const mac = connects.find((c) => c.endpoint.MacAddress !== undefined);
    if (mac !== undefined) {
      const primary = primaryNetwork(options.spec)?.name ?? 'the first network';
      needs.push({
        what: `a MAC address on network ${mac.network}, which is not the network the container is created on (${primary})`,
        api: '1.44',
      });
    }
    if (needs.length === 0) return;
    const version = await this.apiVersion();
    const missing = needs.filter((n) => compareApiVersions(version, n.api) < 0);
    if (missing.length === 0) return;
    throw new GitdockError(
      'GITDOCK_E_ENGINE_REQUEST',
      `Cannot create container ${options.name}: ${missing.map((n) => `${n.what} needs Engine API ${n.api}`).join('; ')}, and the engine at ${this.connection.display} speaks API ${version}. Upgrade the engine or remove the setting.`,
      {
        operation: 'create container',
        name: options.name,
        apiVersion: version,
        dockerHost: this.connection.display,
      },
    );
  }

  /** The engine's API version (`GET /version`), asked once per adapter. */
  private apiVersion(): Promise<string> {
    this.apiVersionAnswer ??= this.call('read engine version', {}, (abortSignal) =>
      this.dial<{ ApiVersion?: string }>({
        path: '/version',
        method: 'GET',
        abortSignal,
        statusCodes: { 200: true, 500: 'server error' },
      }),
    )
      .then((v) => v.ApiVersion ?? '0')
      .catch((err: unknown) => {
        this.apiVersionAnswer = undefined; // ask again next time
        throw err;
      });
    return this.apiVersionAnswer;
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.call('start container', { id }, (abortSignal) =>
        this.docker.getContainer(id).start({ abortSignal }),
      );
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 304) return; // already running
      throw err;
    }
  }

  async stopContainer(id: string, timeoutMs: number): Promise<void> {
    // The engine takes whole seconds; rounding down would cut the grace period short.
    const t = Math.ceil(Math.max(0, timeoutMs) / 1000);
    try {
      // The engine answers once the container has exited: after at most the grace period, then
      // the kill; the deadline gives it that plus the usual time to answer.
      await this.call(
        'stop container',
        { id },
        (abortSignal) => this.docker.getContainer(id).stop({ t, abortSignal }),
        t * 1000 + this.deadlines.requestTimeoutMs,
      );
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 304) return; // already stopped
      throw err;
    }
  }

  async removeContainer(id: string, options: { keepVolumes?: boolean } = {}): Promise<void> {
    try {
      await this.call('remove container', { id }, (abortSignal) =>
        this.docker
          .getContainer(id)
          .remove({ force: true, v: options.keepVolumes !== true, abortSignal }),
      );
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 404) return; // already gone
      throw err;
    }
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.call('rename container', { id, name }, (abortSignal) =>
      this.docker.getContainer(id).rename({ name, abortSignal }),
    );
  }

  async logTail(id: string, lines: number): Promise<string> {
    const tail = Number.isFinite(lines) ? String(Math.max(0, Math.floor(lines))) : 'all';
    // As a stream: a non-streaming GET is JSON-parsed by the modem when the body happens to be
    // JSON. One deadline for asking and reading.
    const buffer = await this.call('read container logs', { id }, async (abortSignal) => {
      const stream = await this.dial<IncomingMessage>({
        path: `/containers/${encodeURIComponent(id)}/logs?`,
        method: 'GET',
        isStream: true,
        abortSignal,
        options: { stdout: true, stderr: true, tail },
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
      });
      return readAll(stream, abortSignal);
    });
    return demuxLogs(buffer);
  }

  async ping(): Promise<void> {
    // Through the modem: dockerode's typings of `ping()` take no options, so no abort signal.
    await this.call(
      'ping',
      {},
      (abortSignal) =>
        this.dial<unknown>({
          path: '/_ping',
          method: 'GET',
          abortSignal,
          statusCodes: { 200: true, 500: 'server error' },
        }),
      Math.min(PING_TIMEOUT_MS, this.deadlines.requestTimeoutMs),
    );
  }

  async listNetworks(): Promise<ActualNetwork[]> {
    // The network list leaves out attached containers (API >= 1.28); the container list says
    // which networks each container is configured on, stopped ones included.
    const [networks, containers] = await Promise.all([
      this.call('list networks', {}, (abortSignal) =>
        this.dial<RawNetwork[]>({
          path: '/networks',
          method: 'GET',
          abortSignal,
          statusCodes: { 200: true, 500: 'server error' },
        }),
      ),
      this.call('list containers', {}, (abortSignal) =>
        this.docker.listContainers({ all: true, abortSignal }),
      ),
    ]);
    return networks.map((n) => ({
      id: n.Id,
      name: n.Name,
      labels: { ...(n.Labels ?? {}) },
      containers: containers
        .filter((c) =>
          Object.entries(c.NetworkSettings?.Networks ?? {}).some(
            ([name, endpoint]) => name === n.Name || endpoint?.NetworkID === n.Id,
          ),
        )
        .map((c) => c.Id),
    }));
  }

  async createNetwork(network: DesiredNetwork, labels: Record<string, string>): Promise<string> {
    const body: Record<string, unknown> = {
      Name: network.name,
      // Without it the engine makes a second network of the same name.
      CheckDuplicate: true,
    };
    if (network.driver !== undefined) body.Driver = network.driver;
    if (network.driverOpts !== undefined) body.Options = { ...network.driverOpts };
    if (network.internal === true) body.Internal = true;
    if (network.attachable === true) body.Attachable = true;
    if (network.enableIpv6 === true) body.EnableIPv6 = true;
    if (network.ipam !== undefined) {
      const ipam: Record<string, unknown> = {};
      if (network.ipam.driver !== undefined) ipam.Driver = network.ipam.driver;
      if (network.ipam.config !== undefined) {
        ipam.Config = network.ipam.config.map((c) => {
          const config: Record<string, unknown> = {};
          if (c.subnet !== undefined) config.Subnet = c.subnet;
          if (c.ipRange !== undefined) config.IPRange = c.ipRange;
          if (c.gateway !== undefined) config.Gateway = c.gateway;
          if (c.auxAddresses !== undefined) config.AuxiliaryAddresses = { ...c.auxAddresses };
          return config;
        });
      }
      if (network.ipam.options !== undefined) ipam.Options = { ...network.ipam.options };
      body.IPAM = ipam;
    }
    body.Labels = { ...network.labels, ...labels };
    const result = await this.call('create network', { name: network.name }, (abortSignal) =>
      this.dial<{ Id: string }>({
        path: '/networks/create',
        method: 'POST',
        abortSignal,
        options: { _body: body },
        statusCodes: {
          200: true,
          201: true,
          400: 'bad parameter',
          403: 'operation not supported',
          404: 'plugin not found',
          409: 'network already exists',
          500: 'server error',
        },
      }),
    );
    return result.Id;
  }

  async removeNetwork(idOrName: string): Promise<void> {
    try {
      await this.call('remove network', { id: idOrName }, (abortSignal) =>
        this.dial<unknown>({
          path: `/networks/${encodeURIComponent(idOrName)}`,
          method: 'DELETE',
          abortSignal,
          statusCodes: {
            200: true,
            204: true,
            403: 'operation not supported',
            404: 'no such network',
            409: 'network is in use',
            500: 'server error',
          },
        }),
      );
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 404) return; // already gone
      throw err;
    }
  }

  async listVolumes(): Promise<ActualVolume[]> {
    const result = await this.call('list volumes', {}, (abortSignal) =>
      this.dial<{ Volumes?: RawVolume[] | null }>({
        path: '/volumes',
        method: 'GET',
        abortSignal,
        statusCodes: { 200: true, 500: 'server error' },
      }),
    );
    return (result.Volumes ?? [])
      .filter((v) => !isLockVolume(v))
      .map((v) => ({ name: v.Name, labels: { ...(v.Labels ?? {}) }, driver: v.Driver ?? '' }));
  }

  async createVolume(volume: DesiredVolume, labels: Record<string, string>): Promise<void> {
    // A create of an existing name answers with the existing volume (the engine's idempotent
    // create), so a volume made by Compose before migration is kept as it is.
    const body: Record<string, unknown> = { Name: volume.name };
    if (volume.driver !== undefined) body.Driver = volume.driver;
    if (volume.driverOpts !== undefined) body.DriverOpts = { ...volume.driverOpts };
    body.Labels = { ...volume.labels, ...labels };
    await this.call('create volume', { name: volume.name }, (abortSignal) =>
      this.dial<RawVolume>({
        path: '/volumes/create',
        method: 'POST',
        abortSignal,
        options: { _body: body },
        statusCodes: {
          200: true,
          201: true,
          400: 'bad parameter',
          409: 'conflict',
          500: 'server error',
        },
      }),
    );
  }

  /** DELETE /volumes/{name}; a volume already gone is not an error. */
  private async deleteVolume(
    name: string,
    operation: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.call(operation, data, (abortSignal) =>
        this.dial<unknown>({
          path: `/volumes/${encodeURIComponent(name)}`,
          method: 'DELETE',
          abortSignal,
          statusCodes: {
            200: true,
            204: true,
            404: 'no such volume',
            409: 'volume is in use',
            500: 'server error',
          },
        }),
      );
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 404) return; // already gone
      throw err;
    }
  }

  async removeVolume(name: string): Promise<void> {
    await this.deleteVolume(name, 'remove volume', { id: name });
  }

  async createLock(
    name: string,
    labels: Record<string, string>,
  ): Promise<{ created: true; lock: EngineLock } | { created: false; lock: EngineLock }> {
    // A volume: the engine creates it under a lock per name and answers a create of an existing
    // name with the existing volume (not a conflict), it survives engine restarts, and it needs
    // no image. Only this call knows `token`, so the volume carries it only if this call made
    // it. (A create that times out may still have made it: the lock is then held by a token no
    // one knows, and shows as held until removed.)
    const token = randomUUID();
    const body = {
      Name: name,
      Driver: 'local',
      Labels: { ...labels, [LOCK_LABEL]: '1', [LOCK_TOKEN_LABEL]: token },
    };
    let volume: RawVolume;
    try {
      volume = await this.call('create lock', { name }, (abortSignal) =>
        this.dial<RawVolume>({
          path: '/volumes/create',
          method: 'POST',
          abortSignal,
          options: { _body: body },
          statusCodes: {
            200: true,
            201: true,
            400: 'bad parameter',
            409: 'conflict',
            500: 'server error',
          },
        }),
      );
    } catch (err) {
      // 409: a volume of that name with another driver; it holds the name all the same.
      if (statusOf((err as GitdockError).cause) !== 409) throw err;
      const held = await this.findLock(name);
      if (held === undefined) throw err;
      return { created: false, lock: held };
    }
    const lock = toEngineLock(volume);
    return volume.Labels?.[LOCK_TOKEN_LABEL] === token
      ? { created: true, lock }
      : { created: false, lock };
  }

  async findLock(name: string): Promise<EngineLock | undefined> {
    return this.lockVolume('find lock', name);
  }

  async removeLock(id: string): Promise<void> {
    const { name, token } = parseLockId(id);
    const lock = await this.lockVolume('remove lock', name);
    if (lock === undefined) return; // already gone
    // Another token: the lock of that ID is gone and someone has taken the name since.
    if (token !== undefined && lock.labels[LOCK_TOKEN_LABEL] !== token) return;
    // A volume can hold data: only one that carries the lock label is removed, so the record of
    // someone else's volume (createLock answers `created: false` with whatever holds the name)
    // cannot delete it.
    if (lock.labels[LOCK_LABEL] === undefined) {
      throw new GitdockError(
        'GITDOCK_E_ENGINE_REQUEST',
        `Refusing to remove lock ${id}: volume ${name} has no ${LOCK_LABEL} label, so it is not a gitdock lock.`,
        { operation: 'remove lock', id, dockerHost: this.connection.display },
      );
    }
    // By name: volumes have no other ID. The check above and this delete are two requests; a
    // lock removed and taken again by someone else between them would be removed too.
    // Gone in between is fine too.
    await this.deleteVolume(name, 'remove lock', { id });
  }

  /** The volume of that exact name as a lock record, or undefined when there is none. */
  private async lockVolume(operation: string, name: string): Promise<EngineLock | undefined> {
    try {
      const volume = await this.call(operation, { name }, (abortSignal) =>
        this.dial<RawVolume>({
          path: `/volumes/${encodeURIComponent(name)}`,
          method: 'GET',
          abortSignal,
          statusCodes: { 200: true, 404: 'no such volume', 500: 'server error' },
        }),
      );
      return toEngineLock(volume);
    } catch (err) {
      if (statusOf((err as GitdockError).cause) === 404) return undefined;
      throw err;
    }
  }

  async watchEvents(options: {
    host: string;
    signal: AbortSignal;
    onEvent: (event: EngineEvent) => void;
  }): Promise<void> {
    const { host, signal, onEvent } = options;
    if (signal.aborted) return;
    const filters = {
      type: ['container'],
      label: [`io.gitdock.host=${host}`],
      event: [...CONTAINER_STATE_EVENTS],
    };
    let stream: IncomingMessage;
    try {
      // The deadline covers opening only; the engine flushes the headers at once, so this
      // resolves when open, and the open stream is ended by `signal` (readEvents), not by it.
      stream = await this.call(
        'watch events',
        { host },
        (abortSignal) =>
          this.dial<IncomingMessage>({
            path: '/events?',
            method: 'GET',
            isStream: true,
            abortSignal,
            options: { filters },
            statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
          }),
        this.deadlines.requestTimeoutMs,
        signal,
      );
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
    await readEvents(stream, signal, onEvent);
  }

  /** `modem.dial` as a promise. */
  private dial<T>(options: Parameters<Docker['modem']['dial']>[0]): Promise<T> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(options, (err, result) => {
        if (err) reject(err);
        else resolve(result as T);
      });
    });
  }

  /**
   * Runs one engine request under a deadline and turns its failure into a
   * `GitdockError` (the original as `cause`). `request` gets the signal to
   * hand to the modem as `abortSignal`: at the deadline it destroys the
   * request and its socket, and the call rejects with
   * GITDOCK_E_ENGINE_UNREACHABLE (`errno: 'ETIMEDOUT'`) whether or not the
   * modem ever calls back. A clearable timer rather than
   * `AbortSignal.timeout`: a stream opened under it (events) must not be cut
   * when it fires later. `signal`, when given, aborts the request too (its
   * failure is then mapped like any other).
   */
  private async call<T>(
    operation: string,
    data: Record<string, unknown>,
    request: (abortSignal: AbortSignal) => Promise<T>,
    timeoutMs: number = this.deadlines.requestTimeoutMs,
    signal?: AbortSignal,
  ): Promise<T> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        controller.abort(new Error(`no answer within ${formatDuration(timeoutMs)}`));
      },
      Math.min(timeoutMs, MAX_TIMER_MS),
    );
    const forward = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    if (signal?.aborted) forward();
    try {
      return await raceAbort(controller.signal, request(controller.signal));
    } catch (err) {
      if (timedOut) throw this.timedOut(err, operation, timeoutMs, data);
      if (isUnreachable(err)) throw this.unreachable(err, operation, data);
      const statusCode = statusOf(err);
      const message = err instanceof Error ? engineMessage(err) : String(err);
      const target = typeof data.id === 'string' ? ` ${data.id}` : '';
      throw new GitdockError(
        'GITDOCK_E_ENGINE_REQUEST',
        `Docker engine refused to ${operation}${target}: ${message}`,
        {
          operation,
          ...data,
          ...(statusCode === undefined ? {} : { statusCode }),
          dockerHost: this.connection.display,
        },
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', forward);
    }
  }

  private timedOut(
    err: unknown,
    operation: string,
    timeoutMs: number,
    data: Record<string, unknown>,
  ): GitdockError {
    const target = typeof data.id === 'string' ? ` ${data.id}` : '';
    return new GitdockError(
      'GITDOCK_E_ENGINE_UNREACHABLE',
      `Cannot reach the Docker engine at ${this.connection.display} (ETIMEDOUT) to ${operation}${target}: it did not answer within ${formatDuration(timeoutMs)}; check that dockerd is running and healthy (docker version, its log).`,
      {
        operation,
        ...data,
        dockerHost: this.connection.display,
        errno: 'ETIMEDOUT',
        timeoutMs,
      },
      { cause: err },
    );
  }

  private unreachable(
    err: ModemError,
    operation: string,
    data: Record<string, unknown> = {},
  ): GitdockError {
    const code = err.code ?? 'unknown';
    const hint = UNREACHABLE_HINTS[code] ?? 'check DOCKER_HOST';
    return new GitdockError(
      'GITDOCK_E_ENGINE_UNREACHABLE',
      `Cannot reach the Docker engine at ${this.connection.display} (${code}) to ${operation}: ${hint}.`,
      { operation, ...data, dockerHost: this.connection.display, errno: code },
      { cause: err },
    );
  }
}

/** A container's own name: the one without a further slash (legacy links add `/other/alias`). */
function primaryName(names: string[] | undefined): string {
  const stripped = (names ?? []).map((n) => n.replace(/^\//, ''));
  return stripped.find((n) => !n.includes('/')) ?? stripped[0] ?? '';
}
