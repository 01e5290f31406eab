import { describe, expect, it } from 'vitest';
import {
  DOCKER_HUB_AUTH_KEY,
  dockerConfigDir,
  findRegistryAuth,
  type ImageRef,
  parseImageRef,
  type ReadFileFs,
  readRegistryAuth,
  registryAuthKey,
} from './registry-auth.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('parseImageRef', () => {
  it.each<[string, ImageRef]>([
    ['redis', { registry: 'docker.io', repository: 'redis' }],
    ['redis:7', { registry: 'docker.io', repository: 'redis', tag: '7' }],
    ['library/redis:7', { registry: 'docker.io', repository: 'library/redis', tag: '7' }],
    ['grafana/grafana:10.1', { registry: 'docker.io', repository: 'grafana/grafana', tag: '10.1' }],
    ['docker.io/redis:7', { registry: 'docker.io', repository: 'docker.io/redis', tag: '7' }],
    ['index.docker.io/redis', { registry: 'docker.io', repository: 'index.docker.io/redis' }],
    ['ghcr.io/org/app:1.2', { registry: 'ghcr.io', repository: 'ghcr.io/org/app', tag: '1.2' }],
    [
      '127.0.0.1:5055/gitdock-test/app:1.0',
      { registry: '127.0.0.1:5055', repository: '127.0.0.1:5055/gitdock-test/app', tag: '1.0' },
    ],
    ['127.0.0.1:5055/app', { registry: '127.0.0.1:5055', repository: '127.0.0.1:5055/app' }],
    ['localhost/app:x', { registry: 'localhost', repository: 'localhost/app', tag: 'x' }],
    ['Registry/app', { registry: 'Registry', repository: 'Registry/app' }],
    [
      'reg.example:443/app@sha256:abcd',
      { registry: 'reg.example:443', repository: 'reg.example:443/app', digest: 'sha256:abcd' },
    ],
    [
      'app:1@sha256:abcd',
      { registry: 'docker.io', repository: 'app', tag: '1', digest: 'sha256:abcd' },
    ],
  ])('%s', (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected);
  });
});

describe('registryAuthKey', () => {
  it.each([
    ['redis:7', DOCKER_HUB_AUTH_KEY],
    ['docker.io/library/redis', DOCKER_HUB_AUTH_KEY],
    ['registry-1.docker.io/library/redis', DOCKER_HUB_AUTH_KEY],
    ['ghcr.io/org/app:1', 'ghcr.io'],
    ['127.0.0.1:5055/app:1', '127.0.0.1:5055'],
  ])('%s -> %s', (ref, key) => {
    expect(registryAuthKey(ref)).toBe(key);
  });
});

describe('dockerConfigDir', () => {
  it.each<[Record<string, string | undefined>, string]>([
    [{}, '/home/u/.docker'],
    [{ DOCKER_CONFIG: '' }, '/home/u/.docker'],
    [{ DOCKER_CONFIG: '/etc/gitdock/docker' }, '/etc/gitdock/docker'],
  ])('%o -> %s', (env, dir) => {
    expect(dockerConfigDir(env, '/home/u')).toBe(dir);
  });
});

describe('findRegistryAuth', () => {
  const cases: Array<{
    name: string;
    config: unknown;
    ref: string;
    expected: ReturnType<typeof findRegistryAuth>;
  }> = [
    {
      name: 'auth field, base64 user:pass',
      config: { auths: { 'ghcr.io': { auth: b64('bot:s3cret') } } },
      ref: 'ghcr.io/org/app:1',
      expected: { serveraddress: 'ghcr.io', username: 'bot', password: 's3cret' },
    },
    {
      name: 'password with colons',
      config: { auths: { 'ghcr.io': { auth: b64('bot:a:b:c') } } },
      ref: 'ghcr.io/org/app:1',
      expected: { serveraddress: 'ghcr.io', username: 'bot', password: 'a:b:c' },
    },
    {
      name: 'username and password fields',
      config: { auths: { '127.0.0.1:5055': { username: 'u', password: 'p' } } },
      ref: '127.0.0.1:5055/app:1',
      expected: { serveraddress: '127.0.0.1:5055', username: 'u', password: 'p' },
    },
    {
      name: 'identity token',
      config: { auths: { 'reg.example': { username: '<token>', identitytoken: 'tok' } } },
      ref: 'reg.example/app',
      expected: { serveraddress: 'reg.example', username: '<token>', identitytoken: 'tok' },
    },
    {
      name: 'identity token alone',
      config: { auths: { 'reg.example': { identitytoken: 'tok' } } },
      ref: 'reg.example/app',
      expected: { serveraddress: 'reg.example', identitytoken: 'tok' },
    },
    {
      name: 'Docker Hub under its v1 key',
      config: { auths: { [DOCKER_HUB_AUTH_KEY]: { auth: b64('hubuser:pw') } } },
      ref: 'redis:7',
      expected: { serveraddress: DOCKER_HUB_AUTH_KEY, username: 'hubuser', password: 'pw' },
    },
    {
      name: 'Docker Hub under a bare host key',
      config: { auths: { 'index.docker.io': { auth: b64('hubuser:pw') } } },
      ref: 'docker.io/library/redis:7',
      expected: { serveraddress: 'index.docker.io', username: 'hubuser', password: 'pw' },
    },
    {
      name: 'key with scheme and path matches by host',
      config: { auths: { 'https://reg.example/v2/': { auth: b64('u:p') } } },
      ref: 'reg.example/team/app:2',
      expected: { serveraddress: 'https://reg.example/v2/', username: 'u', password: 'p' },
    },
    {
      name: 'exact key preferred over a host match',
      config: {
        auths: {
          'https://reg.example': { auth: b64('other:x') },
          'reg.example': { auth: b64('exact:y') },
        },
      },
      ref: 'reg.example/app',
      expected: { serveraddress: 'reg.example', username: 'exact', password: 'y' },
    },
    {
      name: 'another registry only',
      config: { auths: { 'ghcr.io': { auth: b64('u:p') } } },
      ref: 'reg.example/app',
      expected: undefined,
    },
    {
      name: 'port is part of the host',
      config: { auths: { 'reg.example:5000': { auth: b64('u:p') } } },
      ref: 'reg.example/app',
      expected: undefined,
    },
    {
      name: 'Hub credentials are not sent to another registry',
      config: { auths: { [DOCKER_HUB_AUTH_KEY]: { auth: b64('u:p') } } },
      ref: 'ghcr.io/org/app',
      expected: undefined,
    },
    {
      name: 'credential helper for the registry: out of scope',
      config: {
        auths: { 'ghcr.io': { auth: b64('u:p') } },
        credHelpers: { 'ghcr.io': 'gcloud' },
      },
      ref: 'ghcr.io/org/app',
      expected: undefined,
    },
    {
      name: 'credsStore leaves empty auths entries',
      config: { auths: { 'ghcr.io': {} }, credsStore: 'desktop' },
      ref: 'ghcr.io/org/app',
      expected: undefined,
    },
    {
      name: 'credsStore with inline credentials uses them',
      config: { auths: { 'ghcr.io': { auth: b64('u:p') } }, credsStore: 'pass' },
      ref: 'ghcr.io/org/app',
      expected: { serveraddress: 'ghcr.io', username: 'u', password: 'p' },
    },
    {
      name: 'auth without a colon is ignored',
      config: { auths: { 'ghcr.io': { auth: b64('nocolon') } } },
      ref: 'ghcr.io/org/app',
      expected: undefined,
    },
    { name: 'no auths', config: {}, ref: 'ghcr.io/org/app', expected: undefined },
    { name: 'not an object', config: 'x', ref: 'ghcr.io/org/app', expected: undefined },
    { name: 'auths not an object', config: { auths: [] }, ref: 'ghcr.io/a', expected: undefined },
    {
      name: 'entry not an object',
      config: { auths: { 'ghcr.io': 'u:p' } },
      ref: 'ghcr.io/a',
      expected: undefined,
    },
  ];

  it.each(cases)('$name', ({ config, ref, expected }) => {
    expect(findRegistryAuth(config, ref)).toEqual(expected);
  });
});

describe('readRegistryAuth', () => {
  function fakeFs(files: Record<string, string | Error>): ReadFileFs & { reads: string[] } {
    const reads: string[] = [];
    return {
      reads,
      async readFile(path) {
        reads.push(path);
        const content = files[path];
        if (content instanceof Error) throw content;
        if (content === undefined) {
          throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
            code: 'ENOENT',
          });
        }
        return content;
      },
    };
  }

  it('reads config.json in the config dir', async () => {
    const fs = fakeFs({
      '/cfg/config.json': JSON.stringify({ auths: { 'ghcr.io': { auth: b64('u:p') } } }),
    });
    const result = await readRegistryAuth('ghcr.io/org/app:1', { configDir: '/cfg', fs });
    expect(result).toEqual({ auth: { serveraddress: 'ghcr.io', username: 'u', password: 'p' } });
    expect(fs.reads).toEqual(['/cfg/config.json']);
  });

  it('treats a missing file as no credentials', async () => {
    const result = await readRegistryAuth('ghcr.io/a', { configDir: '/cfg', fs: fakeFs({}) });
    expect(result).toEqual({});
  });

  it('reports invalid JSON as a problem and goes on without credentials', async () => {
    const fs = fakeFs({ '/cfg/config.json': '{ nope' });
    const result = await readRegistryAuth('ghcr.io/a', { configDir: '/cfg', fs });
    expect(result.auth).toBeUndefined();
    expect(result.problem).toMatch(/^\/cfg\/config\.json is not valid JSON/);
  });

  it('reports an unreadable file as a problem', async () => {
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const fs = fakeFs({ '/cfg/config.json': denied });
    const result = await readRegistryAuth('ghcr.io/a', { configDir: '/cfg', fs });
    expect(result).toEqual({ problem: 'cannot read /cfg/config.json: EACCES: permission denied' });
  });
});
