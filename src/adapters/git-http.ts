/**
 * Smart-HTTP git with credentials kept out of sight: the URL split from the
 * credentials it carries, secrets redacted from any text, and a push of one
 * ref bounded in time. Shared by the agent (fetch, `--report-ref`) and
 * `gitdock rollback --push`, which build their own messages from
 * `HttpPushError.kind`.
 */
import type nodeFs from 'node:fs';
import { type GitAuth, push as gitPush } from 'isomorphic-git';
import { type GitHttpRequest, request as httpRequest } from 'isomorphic-git/http/node';
import { messageOf } from '../errors.js';

/**
 * The URL without credentials (what is shown and stored) and the
 * credentials it carried, percent-decoded. Throws a TypeError on a string
 * that is not a URL (whose message may quote it: callers say what is wrong
 * without echoing it).
 */
export function splitUrlCredentials(raw: string): { url: string; userinfo: GitAuth } {
  const parsed = new URL(raw);
  const userinfo: GitAuth = {};
  if (parsed.username) userinfo.username = decodeURIComponent(parsed.username);
  if (parsed.password) userinfo.password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, userinfo };
}

/** Every secret, raw and percent-encoded, replaced by `***`. */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      text = text.split(form).join('***');
    }
  }
  return text;
}

/**
 * Why a push failed: `timeout` (not done in time), `auth` (401/403: no or
 * wrong credentials, or no push rights), `rejected` (not a fast-forward),
 * `refused` (the server refused the ref for another reason), `other`.
 * `message` is the underlying one, unredacted: redact before showing it.
 */
export class HttpPushError extends Error {
  constructor(
    readonly kind: 'timeout' | 'auth' | 'rejected' | 'refused' | 'other',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpPushError';
  }
}

export interface PushRefOptions {
  fs: typeof nodeFs;
  gitdir: string;
  /** A working tree, when the repository has one. */
  dir?: string;
  /** isomorphic-git's object cache, shared with other calls on the same repository. */
  cache?: object;
  /** Without credentials; they come through `auth`. */
  url: string;
  /** Pushed to the same name on the remote. */
  ref: string;
  /** Move the remote ref even when it is not a fast-forward. */
  force?: boolean;
  auth?: GitAuth;
  timeoutMs: number;
}

/**
 * Pushes `ref` to `url`, bounded by `timeoutMs`. isomorphic-git's push takes
 * no signal; its http client does, and is aborted then. In case a stream
 * error is lost inside isomorphic-git and the push never settles, it is also
 * raced against the same deadline, so a caller is never held longer.
 * Rejects with HttpPushError.
 */
export async function pushRefOverHttp(options: PushRefOptions): Promise<void> {
  const { url, ref, auth, timeoutMs } = options;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const deadline = new Promise<never>((_, reject) => {
    controller.signal.addEventListener(
      'abort',
      () => reject(new HttpPushError('timeout', `not done within ${timeoutMs} ms`)),
      { once: true },
    );
  });
  deadline.catch(() => {});
  try {
    const pushing = gitPush({
      fs: options.fs,
      gitdir: options.gitdir,
      ...(options.dir !== undefined ? { dir: options.dir } : {}),
      ...(options.cache !== undefined ? { cache: options.cache } : {}),
      http: {
        request: (req: GitHttpRequest) =>
          httpRequest({ ...req, signal: req.signal ?? controller.signal }),
      },
      url,
      ref,
      remoteRef: ref,
      force: options.force ?? false,
      ...(auth ? { onAuth: () => auth } : {}),
    });
    pushing.catch(() => {});
    const result = await Promise.race([pushing, deadline]);
    const status = result.refs[ref];
    if (status && !status.ok) {
      throw new HttpPushError('refused', status.error || 'the server refused the ref');
    }
  } catch (err) {
    if (err instanceof HttpPushError) throw err;
    if (controller.signal.aborted) {
      throw new HttpPushError('timeout', `not done within ${timeoutMs} ms`, { cause: err });
    }
    const code = (err as { code?: string }).code;
    const statusCode = (err as { data?: { statusCode?: number } }).data?.statusCode;
    const message = messageOf(err);
    if (code === 'PushRejectedError') throw new HttpPushError('rejected', message, { cause: err });
    if (statusCode === 401 || statusCode === 403) {
      throw new HttpPushError('auth', message, { cause: err });
    }
    throw new HttpPushError('other', message, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
