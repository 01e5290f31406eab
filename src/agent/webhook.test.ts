import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MAX_WEBHOOK_BODY_BYTES, readSecretFile, verifyWebhook } from './webhook.js';

const secret = Buffer.from('s3cret-for-tests');
const body = Buffer.from('{"ref":"refs/heads/main","after":"0123"}');
const hmac = (key: Buffer | string, data: Buffer) =>
  createHmac('sha256', key).update(data).digest('hex');
const good = hmac(secret, body);
const tampered = Buffer.from('{"ref":"refs/heads/main","after":"9999"}');

type Headers = Record<string, string | string[] | undefined>;

describe('verifyWebhook', () => {
  it('accepts the example delivery of the GitHub documentation', () => {
    // docs.github.com "Validating webhook deliveries", test values.
    const result = verifyWebhook({
      headers: {
        'x-hub-signature-256':
          'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
      },
      body: Buffer.from('Hello, World!'),
      secret: Buffer.from("It's a Secret to Everybody"),
    });
    expect(result).toEqual({ ok: true, provider: 'github' });
  });

  it.each<[string, Headers, 'github' | 'gitea' | 'gitlab']>([
    ['github', { 'x-hub-signature-256': `sha256=${good}` }, 'github'],
    ['github, upper-case hex', { 'x-hub-signature-256': `sha256=${good.toUpperCase()}` }, 'github'],
    ['github, header as sent on the wire', { 'X-Hub-Signature-256': `sha256=${good}` }, 'github'],
    ['github, header all upper case', { 'X-HUB-SIGNATURE-256': `sha256=${good}` }, 'github'],
    ['gitea', { 'x-gitea-signature': good }, 'gitea'],
    ['gitea, upper-case header', { 'X-Gitea-Signature': good }, 'gitea'],
    [
      'gitea, which also sends the GitHub header',
      { 'x-gitea-signature': good, 'x-hub-signature-256': `sha256=${good}` },
      'gitea',
    ],
    ['gitlab', { 'x-gitlab-token': secret.toString() }, 'gitlab'],
    ['gitlab, upper-case header', { 'X-GITLAB-TOKEN': secret.toString() }, 'gitlab'],
    ['a header given as a one-element array', { 'x-gitea-signature': [good] }, 'gitea'],
  ])('accepts %s', (_name, headers, provider) => {
    expect(verifyWebhook({ headers, body, secret })).toEqual({ ok: true, provider });
  });

  it.each<[string, Headers, Buffer?, Buffer?]>([
    ['github, tampered body', { 'x-hub-signature-256': `sha256=${good}` }, tampered],
    ['gitea, tampered body', { 'x-gitea-signature': good }, tampered],
    ['github, wrong secret', { 'x-hub-signature-256': `sha256=${hmac('other', body)}` }, undefined],
    ['gitea, wrong secret', { 'x-gitea-signature': hmac('other', body) }],
    ['gitlab, wrong token', { 'x-gitlab-token': 'other' }],
    ['gitlab, the secret with a suffix', { 'x-gitlab-token': `${secret}x` }],
    ['gitlab, a prefix of the secret', { 'x-gitlab-token': secret.toString().slice(0, 5) }],
    ['gitlab, empty token', { 'x-gitlab-token': '' }],
    ['gitlab, the HMAC instead of the secret', { 'x-gitlab-token': good }],
    ['github, no sha256= prefix', { 'x-hub-signature-256': good }],
    ['github, sha1= prefix', { 'x-hub-signature-256': `sha1=${good}` }],
    ['github, truncated signature', { 'x-hub-signature-256': `sha256=${good.slice(0, 62)}` }],
    ['github, signature with extra digits', { 'x-hub-signature-256': `sha256=${good}00` }],
    ['github, non-hex signature', { 'x-hub-signature-256': `sha256=${'z'.repeat(64)}` }],
    ['github, empty signature', { 'x-hub-signature-256': 'sha256=' }],
    ['gitea, empty signature', { 'x-gitea-signature': '' }],
    [
      'gitea, a bad gitea signature next to a good GitHub one',
      { 'x-gitea-signature': hmac('other', body), 'x-hub-signature-256': `sha256=${good}` },
    ],
    ['the legacy SHA-1 header only', { 'x-hub-signature': `sha1=${good.slice(0, 40)}` }],
    ['no headers', {}],
    ['unrelated headers only', { 'content-type': 'application/json', 'x-github-event': 'push' }],
    ['an undefined header value', { 'x-hub-signature-256': undefined }],
    ['a header given twice', { 'x-gitea-signature': [good, good] }],
    [
      'one header in two spellings',
      { 'x-hub-signature-256': `sha256=${good}`, 'X-Hub-Signature-256': `sha256=${good}` },
    ],
    [
      'an empty secret',
      { 'x-hub-signature-256': `sha256=${hmac('', body)}` },
      body,
      Buffer.alloc(0),
    ],
    ['an empty secret, gitlab', { 'x-gitlab-token': '' }, body, Buffer.alloc(0)],
  ])('refuses %s', (_name, headers, sentBody = body, key = secret) => {
    const result = verifyWebhook({ headers, body: sentBody, secret: key });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).not.toBe('');
      // Reasons go back to the caller: never the secret or the expected MAC.
      expect(result.reason).not.toContain(key.toString() || '\0');
      expect(result.reason).not.toContain(hmac(key, sentBody));
    }
  });

  it('names what is missing when no signature header is there', () => {
    expect(verifyWebhook({ headers: {}, body, secret })).toEqual({
      ok: false,
      reason: 'no signature: expected X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token',
    });
  });

  it('refuses a body over the limit even when signed', () => {
    const big = Buffer.alloc(MAX_WEBHOOK_BODY_BYTES + 1, 'a');
    const result = verifyWebhook({
      headers: { 'x-hub-signature-256': `sha256=${hmac(secret, big)}` },
      body: big,
      secret,
    });
    expect(result).toMatchObject({ ok: false });
  });

  it('accepts a signed empty body', () => {
    const empty = Buffer.alloc(0);
    expect(
      verifyWebhook({ headers: { 'x-gitea-signature': hmac(secret, empty) }, body: empty, secret }),
    ).toEqual({ ok: true, provider: 'gitea' });
  });

  it('signs the bytes, not the text: a re-encoded body fails', () => {
    const latin1 = Buffer.from('{"msg":"caf\u00e9"}', 'latin1');
    const utf8 = Buffer.from('{"msg":"caf\u00e9"}', 'utf8');
    const headers = { 'x-hub-signature-256': `sha256=${hmac(secret, utf8)}` };
    expect(verifyWebhook({ headers, body: utf8, secret }).ok).toBe(true);
    expect(verifyWebhook({ headers, body: latin1, secret }).ok).toBe(false);
  });
});

describe('readSecretFile', () => {
  function tempFile(content: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-secret-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'secret');
    fs.writeFileSync(file, content);
    return file;
  }

  it.each([
    ['s3cret', 's3cret'],
    ['s3cret\n', 's3cret'],
    ['  s3cret \r\n\n', 's3cret'],
    ['two words\n', 'two words'],
  ])('reads %j as %j', async (content, expected) => {
    expect((await readSecretFile(tempFile(content))).toString()).toBe(expected);
  });

  it.each(['', '\n', '  \t\n'])('refuses the empty file %j', async (content) => {
    const file = tempFile(content);
    await expect(readSecretFile(file)).rejects.toMatchObject({
      code: 'GITDOCK_E_WEBHOOK',
      message: expect.stringContaining(`${file} is empty`),
    });
  });

  it('names the file and the reason when it cannot be read', async () => {
    const file = path.join(os.tmpdir(), 'gitdock-no-such-dir', 'secret');
    await expect(readSecretFile(file)).rejects.toMatchObject({
      code: 'GITDOCK_E_WEBHOOK',
      message: `cannot read the webhook secret file ${file} (ENOENT)`,
    });
  });
});
