import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  docker,
  dockerResult,
  imageRef,
  removeAllContainers,
  removeImages,
  stackEnv,
  startRegistry,
  stopRegistry,
} from './support/stack.js';

const MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';

async function registryGet(path: string, accept?: string): Promise<Response> {
  return fetch(`http://${stackEnv().registry}${path}`, {
    headers: accept ? { accept } : {},
    signal: AbortSignal.timeout(5_000),
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe('test stack', () => {
  beforeAll(() => removeAllContainers());
  afterAll(() => removeAllContainers());

  it('exports its environment to the workers', () => {
    const env = stackEnv();
    expect(inject('gitdockStack')).toEqual(env);
    expect(env.dockerHost).toBe(`unix://${env.stackDir}/docker.sock`);
    expect(env.registry).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(imageRef('app', '1.0')).toBe(`${env.registry}/gitdock-test/app:1.0`);
  });

  it('talks to the private dockerd 20.10 without bridge networking', () => {
    expect(docker(['info', '--format', '{{.ServerVersion}}'])).toMatch(/^20\.10\./);
    expect(docker(['version', '--format', '{{.Server.APIVersion}}'])).toBe('1.41');
    const networks = docker(['network', 'ls', '--format', '{{.Name}}']).split('\n');
    expect(networks).not.toContain('bridge');
  });

  it('serves the test images from the registry, each tag its own image', async () => {
    const res = await registryGet('/v2/gitdock-test/app/tags/list');
    expect(res.status).toBe(200);
    const { tags } = (await res.json()) as { tags: string[] };
    expect(tags).toEqual(expect.arrayContaining(['1.0', '1.1', '2.0']));

    const configs = new Set<string>();
    for (const [name, tag] of [
      ['app', '1.0'],
      ['app', '1.1'],
      ['app', '2.0'],
      ['crash', '1.0'],
      ['healthy', '1.0'],
      ['unhealthy', '1.0'],
      ['appserver', '1.4.2'],
      ['appserver', '1.5.0'],
      ['memcached', '1.6'],
    ] as const) {
      const m = await registryGet(`/v2/gitdock-test/${name}/manifests/${tag}`, MANIFEST_V2);
      expect(m.status, `${name}:${tag}`).toBe(200);
      const manifest = (await m.json()) as { config: { digest: string } };
      configs.add(manifest.config.digest);
    }
    expect(configs.size).toBe(9);
  });

  it('pulls app:1.0 and runs it with --network none; docker stop is fast', () => {
    const ref = imageRef('app', '1.0');
    removeImages([ref]);
    expect(dockerResult(['image', 'inspect', ref]).status).not.toBe(0);
    docker(['pull', ref]);
    expect(docker(['run', '--rm', '--network', 'none', ref, 'cat', '/VERSION'])).toBe('app 1.0');

    const id = docker(['run', '-d', '--network', 'none', ref]);
    const t0 = Date.now();
    docker(['stop', id]);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(docker(['inspect', '--format', '{{.State.ExitCode}}', id])).toBe('0');
    docker(['rm', id]);
  });

  it('crash:1.0 exits 3 with a message on stderr', () => {
    const r = dockerResult(['run', '--rm', '--network', 'none', imageRef('crash', '1.0')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('boom: crash image');
  });

  it('healthy:1.0 and unhealthy:1.0 report their Docker health', async () => {
    const healthy = docker(['run', '-d', '--network', 'none', imageRef('healthy', '1.0')]);
    const unhealthy = docker(['run', '-d', '--network', 'none', imageRef('unhealthy', '1.0')]);
    const health = (id: string) => docker(['inspect', '--format', '{{.State.Health.Status}}', id]);
    await waitFor('healthy', () => health(healthy) === 'healthy', 15_000);
    await waitFor('unhealthy', () => health(unhealthy) === 'unhealthy', 15_000);
    docker(['rm', '-f', healthy, unhealthy]);
  });

  it('stopRegistry() and startRegistry() take the registry down and back', async () => {
    stopRegistry();
    try {
      await expect(registryGet('/v2/')).rejects.toThrow();
      const pull = dockerResult(['pull', imageRef('app', '1.1')]);
      expect(pull.status).not.toBe(0);
    } finally {
      startRegistry();
    }
    expect((await registryGet('/v2/')).status).toBe(200);
  });
});
