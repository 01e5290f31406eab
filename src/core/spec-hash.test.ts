import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  decodeSpecLabel,
  encodeSpecLabel,
  hashSpec,
  maskRecordedSpec,
  maskText,
  maskValue,
  recordedSpec,
  secretsToMask,
} from './spec-hash.js';
import { containerSpec } from './test-fixtures.js';
import type { ContainerSpec } from './types.js';

const SECRET = 'hunter2-Secret';

/** A spec using SECRET in every kind of field where interpolation can put it. */
const everywhere = (secret = SECRET): ContainerSpec =>
  containerSpec({
    environment: { DB_PASSWORD: secret },
    command: ['sh', '-c', `run ${secret}`],
    entrypoint: [`/bin/${secret}`],
    healthcheck: { test: ['CMD-SHELL', `probe ${secret}`], retries: 3 },
    labels: { dsn: `pg://u:${secret}@db`, team: 'shop' },
    user: secret,
    workingDir: `/srv/${secret}`,
    hostname: `h-${secret}`,
    extraHosts: [`${secret}:10.0.0.1`],
    sysctls: { 'net.x': secret },
    volumes: [{ type: 'bind', source: `/data/${secret}`, target: '/d', readOnly: false }],
    networks: [{ name: 'p_default', aliases: [secret] }],
    pidsLimit: 100,
  });

describe('secretsToMask / maskText / maskValue', () => {
  it.each<[string, string[], string, string]>([
    ['none', [], 'a hunter2 b', 'a hunter2 b'],
    ['the empty string is never a secret', [''], 'abc', 'abc'],
    ['every occurrence', ['pw'], 'pw:pw', '***:***'],
    [
      'longest first: a secret containing another is masked whole',
      ['ab', 'abcd'],
      'xabcdx',
      'x***x',
    ],
    ['duplicates', ['s', 's'], 'a s', 'a ***'],
  ])('%s', (_name, secrets, text, masked) => {
    expect(maskText(text, secretsToMask(secrets))).toBe(masked);
  });

  it('masks strings at any depth and keeps keys, numbers and booleans', () => {
    expect(maskValue({ pw: ['x pw', { pw: 'pw' }], n: 5, b: true }, ['pw'])).toEqual({
      pw: ['x ***', { pw: '***' }],
      n: 5,
      b: true,
    });
  });
});

describe('recordedSpec', () => {
  it('without secrets is the spec with environment digested, as labels were always written', () => {
    const spec = everywhere();
    const digest = (v: string) =>
      `sha256:${createHash('sha256').update(v).digest('hex').slice(0, 16)}`;
    const legacy = canonicalJson({ ...spec, environment: { DB_PASSWORD: digest(SECRET) } });
    expect(encodeSpecLabel(spec)).toBe(legacy);
    expect(encodeSpecLabel(spec, [])).toBe(legacy);
    expect(encodeSpecLabel(spec, [''])).toBe(legacy);
  });

  it('masks a secret in every field and digests each field that held it', () => {
    const label = encodeSpecLabel(everywhere(), [SECRET]);
    expect(label).not.toContain('hunter2');
    const recorded = decodeSpecLabel(label)!;
    expect(recorded.command).toEqual(['sh', '-c', 'run ***']);
    expect(recorded.healthcheck).toEqual({ test: ['CMD-SHELL', 'probe ***'], retries: 3 });
    expect(recorded.labels).toEqual({ dsn: 'pg://u:***@db', team: 'shop' });
    expect(recorded.user).toBe('***');
    expect(recorded.pidsLimit).toBe(100);
    expect(recorded.stopGracePeriodMs).toBe(everywhere().stopGracePeriodMs);
    expect(Object.keys(recorded.secretDigests ?? {}).sort()).toEqual([
      'command',
      'entrypoint',
      'extraHosts',
      'healthcheck',
      'hostname',
      'labels.dsn',
      'networks',
      'sysctls.net.x',
      'user',
      'volumes',
      'workingDir',
    ]);
    for (const d of Object.values(recorded.secretDigests!))
      expect(d).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it('a rotated secret: the same masked text, other digests', () => {
    const a = recordedSpec(everywhere('old-Secret'), ['old-Secret']);
    const b = recordedSpec(everywhere('new-Secret'), ['new-Secret']);
    const { secretDigests: da, environment: ea, ...restA } = a;
    const { secretDigests: db, environment: eb, ...restB } = b;
    expect(restA).toEqual(restB);
    expect(ea.DB_PASSWORD).not.toBe(eb.DB_PASSWORD);
    for (const key of Object.keys(da!)) expect(da![key], key).not.toBe(db![key]);
  });

  it('masking again changes nothing and keeps the digests', () => {
    const once = recordedSpec(everywhere(), [SECRET]);
    expect(maskRecordedSpec(once, [SECRET])).toEqual(once);
    expect(maskRecordedSpec(once, ['other'])).toEqual(once);
  });

  it('the spec hash is of the real spec: a rotated secret changes it', () => {
    expect(hashSpec(everywhere('a-Secret'))).not.toBe(hashSpec(everywhere('b-Secret')));
  });
});
