import { createHash } from 'node:crypto';
import nodeFs from 'node:fs';
import path from 'node:path';
import {
  type GitAuth,
  fetch as gitFetch,
  init,
  listServerRefs,
  setConfig,
  writeRef,
} from 'isomorphic-git';
import { type GitHttpRequest, request as httpRequest } from 'isomorphic-git/http/node';
import {
  HttpPushError,
  pushRefOverHttp,
  redactSecrets,
  splitUrlCredentials,
} from '../adapters/git-http.js';
import { openGitSource } from '../adapters/git-source.js';
import { reportsOf } from '../core/rollout.js';
import { GitdockError, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import { assertBranchName, assertReportRef } from './local-source.js';
import type { BranchSource } from './types.js';

export interface OpenRemoteSourceOptions {
  /**
   * An http(s) URL of the fleet repo. It may carry `user:password@`; those
   * credentials are used, and kept out of the cache, logs and errors.
   */
  url: string;
  /** The branch to follow, short name (`main`). */
  branch: string;
  /** The agent's state dir; the clone cache lives in `<stateDir>/cache/`. */
  stateDir: string;
  /**
   * A file holding an access token, used as the password. The user name is
   * the URL's (`https://oauth2@gitlab.example/...` for a GitLab OAuth token),
   * else `x-access-token`, which GitHub expects and Gitea and GitLab personal
   * access tokens accept. Read on every fetch, so a rotated token is picked up.
   */
  tokenFile?: string;
  /** Upper bound of one fetch, connection to last byte. Default 30 s. */
  fetchTimeoutMs?: number;
  log?: Log;
}

const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
const REMOTE = 'origin';
const TOKEN_USERNAME = 'x-access-token';

/**
 * A {@link BranchSource} over an http(s) remote (GitHub, GitLab, Gitea, any
 * smart-HTTP server), fetched with isomorphic-git into a bare cache at
 * `<stateDir>/cache/<sha256 of the credential-free URL>.git`, which is what
 * `git` reads. Opening creates the cache but does not fetch: call `update`.
 *
 * Rejects with GITDOCK_E_USAGE when the URL is not http(s) or the branch name
 * is invalid.
 */
export async function openRemoteSource(options: OpenRemoteSourceOptions): Promise<BranchSource> {
  const { branch, tokenFile, log } = options;
  assertBranchName(branch);
  const { url, userinfo } = parseRemoteUrl(options.url);
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const fs = nodeFs;
  const cacheName = createHash('sha256').update(url).digest('hex').slice(0, 32);
  const gitdir = path.join(path.resolve(options.stateDir), 'cache', `${cacheName}.git`);
  // Strings never to show: what the URL carried, and the token once read.
  const secrets = new Set<string>();
  if (userinfo.password) secrets.add(userinfo.password);
  // `https://<token>@host/...` (no password) is how some hosts take a token;
  // a short user name (`git`, `oauth2`) is not one, and hiding it would mangle
  // messages (`***hub.com`).
  else if (userinfo.username && tokenFile === undefined && userinfo.username.length >= 16) {
    secrets.add(userinfo.username);
  }
  const redact = (text: string) => redactSecrets(text, secrets);

  try {
    await fs.promises.mkdir(gitdir, { recursive: true });
    await fs.promises.access(gitdir, fs.constants.W_OK);
  } catch (err) {
    throw new GitdockError(
      'GITDOCK_E_STATE_DIR',
      `cannot use --state-dir ${options.stateDir} for the clone cache: ${(err as Error).message}`,
      { stateDir: options.stateDir },
      { cause: err },
    );
  }
  // Both idempotent: a cache that exists is reused, and the remote written
  // again, credential-free, so `git -C <cache> fetch` works for a person
  // looking into it.
  await init({ fs, dir: gitdir, bare: true });
  await setConfig({ fs, gitdir, path: `remote.${REMOTE}.url`, value: url });
  await setConfig({
    fs,
    gitdir,
    path: `remote.${REMOTE}.fetch`,
    value: `+refs/heads/*:refs/remotes/${REMOTE}/*`,
  });
  const git = await openGitSource({ dir: gitdir });
  const trackingRef = `refs/remotes/${REMOTE}/${branch}`;

  /** The credentials, read afresh each time (a rotated token is picked up); `wrap` says what failed. */
  async function readAuth(wrap: (reason: string) => Error): Promise<GitAuth | undefined> {
    if (tokenFile !== undefined) {
      let token: string;
      try {
        token = (await fs.promises.readFile(tokenFile, 'utf8')).trim();
      } catch (err) {
        throw wrap(`cannot read the token file ${tokenFile}: ${messageOf(err)}`);
      }
      if (token === '') throw wrap(`the token file ${tokenFile} is empty`);
      secrets.add(token);
      return { username: userinfo.username || TOKEN_USERNAME, password: token };
    }
    if (userinfo.username || userinfo.password) return userinfo;
    return undefined;
  }

  function fetchError(reason: string, cause?: unknown): GitdockError {
    const message = redact(`fetching branch "${branch}" from ${url} failed: ${reason}`);
    // The cause travels along only when it cannot carry a secret into a log.
    const causeText =
      cause === undefined ? '' : `${messageOf(cause)} ${JSON.stringify(dataOf(cause)) ?? ''}`;
    const safeCause =
      cause !== undefined && redact(causeText) === causeText ? { cause } : undefined;
    return new GitdockError('GITDOCK_E_GIT_FETCH', message, { url, branch }, safeCause);
  }

  async function fetchOnce(signal: AbortSignal): Promise<void> {
    const auth = await readAuth((reason) => fetchError(reason));
    const started = Date.now();
    try {
      await gitFetch({
        fs,
        // isomorphic-git's fetch takes no AbortSignal, but hands each request
        // to the http client, so the signal goes in there.
        http: {
          request: (req: GitHttpRequest) => httpRequest({ ...req, signal: req.signal ?? signal }),
        },
        gitdir,
        url,
        remote: REMOTE,
        remoteRef: `refs/heads/${branch}`,
        // `ref` is where isomorphic-git looks for the commit to offer as
        // "have" to the server. Given as `main` it would look for
        // refs/heads/main, which a bare cache never has, offer nothing, and
        // download the whole history on every fetch.
        ref: trackingRef,
        singleBranch: true,
        tags: false,
        // Credentials go through onAuth only after the server asks for them
        // (a 401), never into a URL that isomorphic-git might log or store.
        ...(auth ? { onAuth: () => auth } : {}),
      });
    } catch (err) {
      throw describeFetchFailure(err, auth !== undefined);
    }
    log?.debug({ url, branch, ms: Date.now() - started }, 'fetched');
  }

  function describeFetchFailure(err: unknown, hadAuth: boolean): GitdockError {
    const code = codeOf(err);
    if (code === 'HttpError') {
      const status = (dataOf(err) as { statusCode?: number } | undefined)?.statusCode;
      if (status === 401 || status === 403) {
        const hint = hadAuth
          ? 'the server refused the credentials (check the token file or the URL)'
          : 'the server wants credentials (pass --token-file, or user:password in the URL)';
        return fetchError(`${messageOf(err)}: ${hint}`, err);
      }
      if (status === 404) {
        return fetchError(`${messageOf(err)}: no repository at that URL`, err);
      }
    }
    if (code === 'NotFoundError') {
      return fetchError(`the remote has no branch "${branch}"`, err);
    }
    return fetchError(messageOf(err), err);
  }

  // Single flight: concurrent updates share one fetch. `running` is the
  // isomorphic-git fetch itself, which can outlive a flight that timed out
  // (a request is aborted at once, a pack being written is not); the next
  // flight waits for it so two fetches never write the cache together.
  let flight: Flight | undefined;
  let running: Promise<unknown> = Promise.resolve();

  function startFlight(): Flight {
    const controller = new AbortController();
    const timedOut = new Error('fetch timed out');
    const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
    const work = (async () => {
      await running;
      controller.signal.throwIfAborted();
      const run = fetchOnce(controller.signal);
      running = run.catch(() => {});
      return run;
    })();
    const current: Flight = {
      controller,
      waiters: 0,
      promise: raceAbort(work, controller.signal)
        .catch((err: unknown) => {
          if (err === timedOut) {
            throw fetchError(`not done within ${timeoutMs} ms (the fetch timeout)`);
          }
          if (isGitdockError(err)) throw err;
          throw fetchError(messageOf(err), err);
        })
        .finally(() => {
          clearTimeout(timer);
          if (flight === current) flight = undefined;
        }),
    };
    // Nobody may be waiting when a flight fails (every caller gave up).
    current.promise.catch(() => {});
    return current;
  }

  return {
    description: url,
    branch,
    git,
    remote: true,

    update(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      // A flight whose callers all gave up is aborted: start afresh.
      if (!flight || flight.controller.signal.aborted) flight = startFlight();
      const current = flight;
      current.waiters++;
      if (!signal) return current.promise.finally(() => current.waiters--);
      return raceAbort(current.promise, signal).finally(() => {
        current.waiters--;
        // The last caller gave up: nobody wants this fetch any more.
        if (current.waiters === 0 && signal.aborted) current.controller.abort(signal.reason);
      });
    },

    async head() {
      try {
        return await git.resolveRevision(trackingRef);
      } catch (err) {
        if (!isGitdockError(err, 'GITDOCK_E_GIT_REV_NOT_FOUND')) throw err;
        throw new GitdockError(
          'GITDOCK_E_GIT_REV_NOT_FOUND',
          `branch "${branch}" of ${url} is not in the local cache yet (no fetch has brought it)`,
          { url, branch },
          { cause: err },
        );
      }
    },

    async watch() {
      return async () => {};
    },

    async readReports(signal) {
      const auth = await readAuth((reason) => fetchError(reason));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('timed out')), timeoutMs);
      const abort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', abort, { once: true });
      try {
        // ls-refs with a prefix (protocol v2): a few hundred bytes, no object
        // travels, whatever the size of the history.
        const refs = await listServerRefs({
          http: {
            request: (req: GitHttpRequest) =>
              httpRequest({ ...req, signal: req.signal ?? controller.signal }),
          },
          url,
          prefix: 'refs/gitdock/',
          ...(auth ? { onAuth: () => auth } : {}),
        });
        return reportsOf(refs.map((r) => [r.ref, r.oid] as const));
      } catch (err) {
        const reason = controller.signal.aborted
          ? `not done within ${timeoutMs} ms (the fetch timeout)`
          : messageOf(err);
        throw new GitdockError(
          'GITDOCK_E_GIT_FETCH',
          redact(`listing the hosts' reports (refs/gitdock/*) on ${url} failed: ${reason}`),
          { url },
        );
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
      }
    },

    async reportApplied(refName, commit) {
      assertReportRef(refName);
      const fail = (reason: string, cause?: unknown) =>
        new GitdockError(
          'GITDOCK_E_GIT_REPORT',
          redact(`pushing ${refName} to ${url} failed: ${reason}`),
          { url, ref: refName },
          cause !== undefined && redact(messageOf(cause)) === messageOf(cause)
            ? { cause }
            : undefined,
        );
      const auth = await readAuth((reason) => fail(reason));
      try {
        await writeRef({ fs, gitdir, ref: refName, value: commit, force: true });
        await pushRefOverHttp({
          fs,
          gitdir,
          url,
          ref: refName,
          // The ref follows whatever the host runs, backwards too (a rollback).
          force: true,
          ...(auth ? { auth } : {}),
          timeoutMs,
        });
      } catch (err) {
        if (err instanceof HttpPushError && err.kind === 'auth') {
          throw fail(
            `${err.message}: the server refused to take a push (the agent needs push rights for --report-ref)`,
            err,
          );
        }
        throw fail(messageOf(err), err);
      }
    },
  };
}

interface Flight {
  promise: Promise<void>;
  controller: AbortController;
  waiters: number;
}

/**
 * The URL without credentials (what is shown and stored) and the
 * credentials it carried, percent-decoded.
 */
function parseRemoteUrl(raw: string): { url: string; userinfo: GitAuth } {
  let split: { url: string; userinfo: GitAuth };
  try {
    split = splitUrlCredentials(raw);
  } catch {
    // The raw string may hold a password: say what is wrong, not what it is.
    throw new GitdockError('GITDOCK_E_USAGE', 'the repository URL is not a valid URL', {});
  }
  const { url } = split;
  if (!/^https?:\/\//.test(url)) {
    throw new GitdockError(
      'GITDOCK_E_USAGE',
      `${url}: gitdock fetches over http(s) only; for a repository on this host give its path`,
      { url },
    );
  }
  return split;
}

/** `promise`, or the signal's reason as soon as it aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function dataOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { data?: unknown }).data : undefined;
}
