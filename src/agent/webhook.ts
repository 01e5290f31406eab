import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GitdockError } from '../errors.js';

/**
 * The largest webhook body the agent reads. Push payloads of GitHub, Gitea
 * and GitLab are a few KiB to a few hundred KiB (GitHub caps deliveries at
 * 25 MB, but only for pushes of thousands of commits); the body is only
 * authenticated, never parsed, so a bigger one is refused rather than hashed.
 */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

export type WebhookProvider = 'github' | 'gitea' | 'gitlab';

export interface VerifyWebhookOptions {
  /** Request headers as node:http gives them; names are matched case-insensitively. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body, exactly as received: the signature covers these bytes. */
  body: Buffer;
  secret: Buffer;
}

export type VerifyWebhookResult =
  | { ok: true; provider: WebhookProvider }
  | { ok: false; reason: string };

/**
 * Whether a webhook delivery comes from someone who knows the secret:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
 * - Gitea (and Forgejo): `X-Gitea-Signature: <hex HMAC-SHA256 of the body>`
 *   (checked first, since Gitea also sends the GitHub header);
 * - GitLab: `X-Gitlab-Token: <the secret itself>`.
 *
 * A verified delivery only says "the branch may have moved": the payload is
 * never read. Reasons are safe to answer to the caller: they never contain
 * the secret or the expected signature. Pure: no IO, no clock.
 */
export function verifyWebhook(options: VerifyWebhookOptions): VerifyWebhookResult {
  const { body, secret } = options;
  // An empty key makes every signature forgeable.
  if (secret.length === 0) return { ok: false, reason: 'no webhook secret configured' };
  if (body.length > MAX_WEBHOOK_BODY_BYTES) {
    return { ok: false, reason: `body larger than ${MAX_WEBHOOK_BODY_BYTES} bytes` };
  }
  const headers = lowerCaseHeaders(options.headers);

  const gitea = headers.get('x-gitea-signature');
  if (gitea !== undefined) {
    if (gitea === null) return { ok: false, reason: 'X-Gitea-Signature given more than once' };
    return checkHmac(gitea.trim(), body, secret, 'gitea');
  }
  const github = headers.get('x-hub-signature-256');
  if (github !== undefined) {
    if (github === null) return { ok: false, reason: 'X-Hub-Signature-256 given more than once' };
    const match = /^sha256=(.*)$/i.exec(github.trim());
    if (!match) return { ok: false, reason: 'X-Hub-Signature-256 is not "sha256=<hex>"' };
    return checkHmac(match[1]!, body, secret, 'github');
  }
  const gitlab = headers.get('x-gitlab-token');
  if (gitlab !== undefined) {
    if (gitlab === null) return { ok: false, reason: 'X-Gitlab-Token given more than once' };
    // Compare digests, not the token with the secret: both are 32 bytes, so
    // timingSafeEqual runs whatever was sent, and neither the comparison nor
    // a length check tells the sender anything about the secret's length.
    const sent = createHash('sha256').update(gitlab).digest();
    const expected = createHash('sha256').update(secret).digest();
    return timingSafeEqual(sent, expected)
      ? { ok: true, provider: 'gitlab' }
      : { ok: false, reason: 'X-Gitlab-Token does not match the secret' };
  }
  // (The older X-Hub-Signature uses SHA-1 and is not accepted.)
  return {
    ok: false,
    reason: 'no signature: expected X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token',
  };
}

function checkHmac(
  hex: string,
  body: Buffer,
  secret: Buffer,
  provider: 'github' | 'gitea',
): VerifyWebhookResult {
  // Buffer.from(hex, 'hex') stops at the first bad digit, so check the shape
  // first; the length of a SHA-256 digest is public, not a secret.
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    return { ok: false, reason: 'signature is not 64 hex digits' };
  }
  const sent = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(sent, expected)
    ? { ok: true, provider }
    : { ok: false, reason: 'signature does not match the body and the secret' };
}

/**
 * Header values by lower-case name: the value, or `null` when the header
 * came more than once (an array, or two spellings of one name).
 */
function lowerCaseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const single = Array.isArray(value) ? (value.length === 1 ? value[0]! : null) : value;
    out.set(key, out.has(key) ? null : single);
  }
  return out;
}

/**
 * Reads the webhook secret from a file: its content without
 * surrounding whitespace (the newline `echo` leaves). Rejects with
 * GITDOCK_E_WEBHOOK when the file cannot be read or is empty; the message
 * names the file, never its content.
 */
export async function readSecretFile(file: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new GitdockError(
      'GITDOCK_E_WEBHOOK',
      `cannot read the webhook secret file ${file} (${reason})`,
      { file },
      { cause: err },
    );
  }
  const secret = text.trim();
  if (secret === '') {
    throw new GitdockError(
      'GITDOCK_E_WEBHOOK',
      `the webhook secret file ${file} is empty; put a long random string in it`,
      { file },
    );
  }
  return Buffer.from(secret, 'utf8');
}
