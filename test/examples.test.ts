// examples/fleet is what `make demo` deploys and what the docs quote: it must
// stay valid (policy included) and say what its README says it says.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRepo } from './support/git-fixture.js';
import { gitdock } from './support/gitdock.js';

const FLEET = fileURLToPath(new URL('../examples/fleet/', import.meta.url));

function fleetFiles(dir = FLEET, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(files, fleetFiles(path.join(dir, entry.name), rel));
    else files[rel] = fs.readFileSync(path.join(dir, entry.name), 'utf8');
  }
  return files;
}

describe('examples/fleet', () => {
  it('is valid, and web-1 runs appserver (its own override) and memcached; web-2 the fleet file', async () => {
    const repo = await createRepo({ files: fleetFiles() });
    onTestFinished(repo.cleanup);
    const validate = await gitdock(['validate', '--repo', repo.dir]);
    expect(validate.stderr).toBe('');
    expect(validate.code).toBe(0);

    const web1 = JSON.parse(
      (await gitdock(['render', '--host', 'web-1', '--repo', repo.dir, '--output', 'json'])).stdout,
    );
    const web2 = JSON.parse(
      (await gitdock(['render', '--host', 'web-2', '--repo', repo.dir, '--output', 'json'])).stdout,
    );
    const names = (state: { services: { name: string }[] }) =>
      state.services.map((s) => s.name).sort();
    expect(names(web1)).toEqual(['appserver', 'memcached']);
    expect(names(web2)).toEqual(['appserver']);
    expect(JSON.stringify(web1)).toContain('hosts/web-1/appserver.yaml');
    expect(JSON.stringify(web2)).toContain('services/appserver.yaml');
  });
});
