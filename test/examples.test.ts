// examples/fleet is what `make demo` deploys and what the docs quote: it must
// stay valid (policy included) and say what its README says it says.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { removeByLabel } from './support/compose-compare.js';
import { createRepo } from './support/git-fixture.js';
import { containers, gitdock } from './support/gitdock.js';
import { docker, stackEnv } from './support/stack.js';

const FLEET = fileURLToPath(new URL('../examples/fleet/', import.meta.url));
/** The registry and the shop proxy's host port the example names; the test stack's may differ. */
const EXAMPLE_REGISTRY = '127.0.0.1:5055';
const EXAMPLE_PROXY_PORT = '127.0.0.1:8088:80';

function fleetFiles(dir = FLEET, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(files, fleetFiles(path.join(dir, entry.name), rel));
    else files[rel] = fs.readFileSync(path.join(dir, entry.name), 'utf8');
  }
  return files;
}

/** A port nobody listens on now, on 127.0.0.1 (the engines here share the host's ports). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET with a bounded number of tries: the proxy starts listening just after its container starts. */
async function fetchText(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${url} did not answer: ${String(last)}`);
}

describe('examples/fleet', () => {
  it('is valid, and web-1 runs appserver (its own override), memcached and the shop project; web-2 the fleet file', async () => {
    const repo = await createRepo({ files: fleetFiles() });
    onTestFinished(repo.cleanup);
    const validate = await gitdock(['validate', '--repo', repo.dir]);
    expect(validate.stderr).toBe('');
    // The one note: the secret each host supplies, never the repo.
    expect(validate.stdout).toMatch(/^note: .*must supply DB_PASSWORD/m);
    expect(validate.stdout).not.toMatch(/^(error|warning)/m);
    expect(validate.code).toBe(0);

    const web1 = JSON.parse(
      (await gitdock(['render', '--host', 'web-1', '--repo', repo.dir, '--output', 'json'])).stdout,
    );
    const web2 = JSON.parse(
      (await gitdock(['render', '--host', 'web-2', '--repo', repo.dir, '--output', 'json'])).stdout,
    );
    const names = (state: { services: { name: string }[] }) =>
      state.services.map((s) => s.name).sort();
    expect(names(web1)).toEqual(['appserver', 'memcached', 'shop/app', 'shop/db', 'shop/proxy']);
    expect(names(web2)).toEqual(['appserver']);
    expect(JSON.stringify(web1)).toContain('hosts/web-1/appserver.yaml');
    expect(JSON.stringify(web2)).toContain('services/appserver.yaml');
  });

  it('the shop project applies on the engine: the proxy serves its repo files, app finds db, the secret stays out of the output', async () => {
    const { registry } = stackEnv();
    const port = await freePort();
    const files = fleetFiles();
    for (const [file, text] of Object.entries(files)) {
      files[file] = text
        .replaceAll(EXAMPLE_REGISTRY, registry)
        .replaceAll(EXAMPLE_PROXY_PORT, `127.0.0.1:${port}:80`);
    }
    const repo = await createRepo({ files: files });
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-example-'));
    onTestFinished(async () => {
      removeByLabel('io.gitdock.host=web-1', { volumes: true });
      fs.rmSync(scratch, { recursive: true, force: true });
      await repo.cleanup();
    });
    removeByLabel('io.gitdock.host=web-1', { volumes: true });
    const envDir = path.join(scratch, 'env');
    fs.mkdirSync(envDir);
    const secret = 'pw-4f1c9b2e7d';
    fs.writeFileSync(path.join(envDir, 'shop.env'), `DB_PASSWORD=${secret}\n`);
    const apply = (...more: string[]) =>
      gitdock(['apply', '--host', 'web-1', '--repo', repo.dir, ...more]);
    const state = ['--state-dir', path.join(scratch, 'state')];

    // On the host, the required variable is an error: nothing is applied.
    const without = await apply(...state);
    expect(without.code).not.toBe(0);
    expect(without.stdout + without.stderr).toMatch(/DB_PASSWORD/);
    expect([...containers().keys()].filter((n) => n.startsWith('shop-'))).toEqual([]);

    const applied = await apply('--env-dir', envDir, ...state);
    expect(applied.stderr + applied.stdout).not.toContain(secret);
    expect(applied.code).toBe(0);

    const running = containers();
    for (const [name, service] of [
      ['shop-proxy-1', 'shop/proxy'],
      ['shop-app-1', 'shop/app'],
      ['shop-db-1', 'shop/db'],
    ] as const) {
      expect(running.get(name)?.state).toBe('running');
      expect(running.get(name)?.labels['io.gitdock.service']).toBe(service);
    }
    expect(await fetchText(`http://127.0.0.1:${port}/`)).toMatch(/^200 <h1>shop<\/h1>/);
    expect(docker(['exec', 'shop-app-1', 'env']).split('\n')).toContain(`DB_PASSWORD=${secret}`);
    expect(docker(['exec', 'shop-app-1', 'nslookup', 'db'])).toMatch(/Name:\s+db\s+Address: \d+/);
    expect(docker(['volume', 'ls', '-q', '--filter', 'name=shop_db_data'])).toBe('shop_db_data');

    // A second apply changes nothing.
    const again = await apply('--env-dir', envDir, ...state);
    expect(again.code).toBe(0);
    expect(containers().get('shop-proxy-1')?.id).toBe(running.get('shop-proxy-1')?.id);
  }, 120_000);
});
