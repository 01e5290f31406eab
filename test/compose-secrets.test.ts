// Done-when 4 of issue 10 (secrets half), on the real engine: a value from
// the host-local env file (`--env-dir DIR`, `DIR/<project>.env`) used in
// `environment`, `command`, a healthcheck and a label is hashed into the
// spec, so rotating it recreates exactly the services that use it, with
// reasons that do not quote it; and neither the old nor the new value
// appears in anything gitdock prints or records: plan, apply, render, diff
// (text and json), the labels gitdock writes on containers, and a running
// agent's log, /status and /metrics.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent, waitConverged, waitFor } from './support/agent-process.js';
import { createRepo, type FixtureRepo } from './support/git-fixture.js';
import { type CliRun, gitdock } from './support/gitdock.js';
import { docker, imageRef, removeAllContainers } from './support/stack.js';

const HOST = 'web-1';
const PROJECT = 'shop';
const DIR = `hosts/${HOST}/${PROJECT}`;

// Distinctive values: a match can only be a leak. Each contains characters
// JSON escapes, so a value written into JSON text is looked for in that form too.
const SECRET_1 = 'hunter2-"Qx7vL9"-first';
const SECRET_2 = 'pw\\Z8rT4kq2-second';
const SECRET_3 = 'tok-Mw3nB6yp-third';
const SECRETS = [SECRET_1, SECRET_2, SECRET_3];

// The label the project itself puts on api carries the secret, because the
// compose file asks for it (as `environment` does): it is the user's label,
// not one gitdock adds, so it is the one label not checked for the value.
const USER_LABEL = 'com.example.dsn';

const COMPOSE = `services:
  db:
    image: ${imageRef('app', '1.0')}
    environment:
      POSTGRES_PASSWORD: \${DB_PASSWORD:?set DB_PASSWORD in the host env file}
      POSTGRES_DB: shop
  api:
    image: ${imageRef('app', '1.0')}
    command: ["sh", "-c", "test -n '\${DB_PASSWORD}' && exec /bin/idle"]
    healthcheck:
      test: ["CMD-SHELL", "test -n '\${DB_PASSWORD}'"]
      interval: 1s
      timeout: 5s
      retries: 3
    labels:
      ${USER_LABEL}: "postgres://app:\${DB_PASSWORD}@db/shop"
    depends_on:
      - db
  web:
    image: ${imageRef('app', '1.0')}
    environment:
      MODE: \${MODE}
`;

let scratch: string;
let repo: FixtureRepo;
let stateDir: string;
let envDir: string;
let agent: AgentProcess | undefined;

function writeSecret(value: string): void {
  // Double-quoted dotenv value: `\\` and `\"` are its escapes for \ and ".
  const quoted = value.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  fs.writeFileSync(path.join(envDir, `${PROJECT}.env`), `DB_PASSWORD="${quoted}"\n`);
}

beforeAll(async () => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gitdock-compose-secrets-'));
  stateDir = path.join(scratch, 'state');
  envDir = path.join(scratch, 'env');
  fs.mkdirSync(envDir);
  writeSecret(SECRET_1);
  repo = await createRepo({
    bare: true,
    files: {
      'gitdock.yaml': `hosts:\n  ${HOST}: {}\n`,
      [`${DIR}/compose.yaml`]: COMPOSE,
      // Not a secret: the repo's .env is in git.
      [`${DIR}/.env`]: 'MODE=web\n',
    },
  });
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

afterAll(async () => {
  removeAllContainers();
  docker(['network', 'prune', '-f']);
  await repo?.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const cli = (command: string, ...extra: string[]) =>
  gitdock([
    command,
    '--repo',
    repo.dir,
    '--host',
    HOST,
    '--env-dir',
    envDir,
    ...(command === 'apply' ? ['--state-dir', stateDir] : []),
    ...extra,
  ]);

/** Where any of the secrets shows in `text`, as written or as JSON escapes it. */
function leaks(text: string): string[] {
  const found: string[] = [];
  for (const s of SECRETS) {
    if (text.includes(s)) found.push(`${s} (raw)`);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (text.includes(escaped)) found.push(`${s} (JSON)`);
    // The part of the value that needs no escaping: a leak through some other encoding.
    const core = s.split(/["\\]/).sort((a, b) => b.length - a.length)[0]!;
    if (text.includes(core)) found.push(`${s} (as ${core})`);
  }
  return found;
}

function expectNoLeak(what: string, run: CliRun | string): void {
  const text = typeof run === 'string' ? run : `${run.stdout}\n${run.stderr}`;
  expect(leaks(text), `${what} shows a secret:\n${text}`).toEqual([]);
}

interface Inspected {
  Id: string;
  Config: { Env: string[]; Cmd: string[]; Labels: Record<string, string> };
}

/** Every container of the project, by identity. */
function inspectProject(): Record<string, Inspected> {
  const ids = docker(['ps', '-aq', '--filter', `label=io.gitdock.project=${PROJECT}`])
    .split('\n')
    .filter(Boolean);
  const out: Record<string, Inspected> = {};
  for (const c of JSON.parse(docker(['inspect', ...ids])) as Inspected[]) {
    out[c.Config.Labels['io.gitdock.service']!] = c;
  }
  return out;
}

function expectLabelsClean(): void {
  for (const [service, c] of Object.entries(inspectProject())) {
    const labels = { ...c.Config.Labels };
    delete labels[USER_LABEL];
    expectNoLeak(`labels of ${service}`, JSON.stringify(labels));
  }
}

interface PlanJson {
  actions: { type: string; service: string; reasons: string[] }[];
}

function actionsOf(run: CliRun) {
  return (JSON.parse(run.stdout) as PlanJson).actions
    .map((a) => ({ type: a.type, service: a.service, reasons: a.reasons }))
    .sort((a, b) => (a.service < b.service ? -1 : 1));
}

describe('a secret from the host env file', () => {
  it('is applied, rotated into exactly the services that use it, and never shown', async () => {
    const first = await cli('apply');
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    expectNoLeak('apply', first);
    let inspected = inspectProject();
    expect(Object.keys(inspected).sort()).toEqual(['shop/api', 'shop/db', 'shop/web']);
    // The containers get the value itself: what is masked is only gitdock's account of it.
    expect(inspected['shop/db']!.Config.Env).toContain(`POSTGRES_PASSWORD=${SECRET_1}`);
    expect(inspected['shop/api']!.Config.Cmd.join(' ')).toContain(SECRET_1);
    expect(inspected['shop/api']!.Config.Labels[USER_LABEL]).toBe(
      `postgres://app:${SECRET_1}@db/shop`,
    );
    expectLabelsClean();
    const before = Object.fromEntries(Object.entries(inspected).map(([k, c]) => [k, c.Id]));

    // render shows it only when asked: the check above would find it.
    const shown = await cli('render', '--show-secrets', '--output', 'json');
    expect(shown.stdout).toContain(JSON.stringify(SECRET_1).slice(1, -1));
    for (const output of ['yaml', 'json']) {
      expectNoLeak(`render -o ${output}`, await cli('render', '--output', output));
    }

    writeSecret(SECRET_2);
    const plan = await cli('plan', '--output', 'json');
    expect(plan.code, plan.stderr).toBe(2);
    expectNoLeak('plan -o json', plan);
    const actions = actionsOf(plan);
    expect(actions.map((a) => `${a.type} ${a.service}`)).toEqual([
      'recreate shop/api',
      'recreate shop/db',
      'in-sync shop/web',
    ]);
    expect(actions[1]!.reasons).toEqual(['environment.POSTGRES_PASSWORD changed']);
    // Each field that uses the secret is named, without its value.
    expect(actions[0]!.reasons).toEqual(
      expect.arrayContaining(['command changed', 'healthcheck changed']),
    );
    expect(actions[0]!.reasons.join(' ')).toContain(`labels.${USER_LABEL}`);
    const planText = await cli('plan');
    expectNoLeak('plan', planText);
    expect(planText.stdout).toMatch(
      /~ recreate +shop\/api +.*command changed, healthcheck changed\n/,
    );

    const second = await cli('apply', '--output', 'json');
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    expectNoLeak('apply -o json', second);
    inspected = inspectProject();
    expect(inspected['shop/web']!.Id).toBe(before['shop/web']);
    expect(inspected['shop/db']!.Id).not.toBe(before['shop/db']);
    expect(inspected['shop/api']!.Id).not.toBe(before['shop/api']);
    expect(inspected['shop/db']!.Config.Env).toContain(`POSTGRES_PASSWORD=${SECRET_2}`);
    expect(inspected['shop/api']!.Config.Cmd.join(' ')).toContain(SECRET_2);
    expectLabelsClean();

    const settled = await cli('plan');
    expect(settled.code, settled.stdout).toBe(0);
    expectNoLeak('plan (settled)', settled);

    // validate is CI: no host env file; it names what the host must supply, as a note.
    const validate = await gitdock(['validate', '--repo', repo.dir, '--output', 'json']);
    expect(validate.code, validate.stdout).toBe(0);
    const notes = (JSON.parse(validate.stdout) as { notes: { message: string }[] }).notes;
    expect(notes.map((n) => n.message)).toEqual([
      expect.stringContaining('the host must supply DB_PASSWORD'),
    ]);
    expectNoLeak('validate', validate);

    // diff reads git only (no host env file): a change of the project is compared without the value.
    const base = repo.rev();
    repo.commit({ [`${DIR}/.env`]: 'MODE=api\n' }, 'mode api');
    for (const output of ['text', 'json', 'markdown']) {
      const diff = await gitdock(['diff', base, 'HEAD', '--repo', repo.dir, '--output', output]);
      expect(diff.code, `${diff.stdout}\n${diff.stderr}`).toBe(2);
      expectNoLeak(`diff -o ${output}`, diff);
    }

    // The agent reads the env file on every pass: rotate it while it runs.
    agent = await startAgent([
      '--host',
      HOST,
      '--repo',
      repo.bareDir!,
      '--state-dir',
      stateDir,
      '--env-dir',
      envDir,
      '--interval',
      '1s',
    ]);
    const head = repo.rev();
    await waitConverged(agent, head, { timeoutMs: 60_000, minServices: 3 });
    const converged = inspectProject();
    writeSecret(SECRET_3);
    await waitFor(
      () => {
        const now = inspectProject();
        return (
          now['shop/db']?.Config.Env.includes(`POSTGRES_PASSWORD=${SECRET_3}`) &&
          now['shop/api']?.Config.Cmd.join(' ').includes(SECRET_3)
        );
      },
      { timeoutMs: 60_000, what: 'the agent to apply the rotated secret' },
    );
    const status = await waitConverged(agent, head, { timeoutMs: 60_000, minServices: 3 });
    expect(inspectProject()['shop/web']!.Id).toBe(converged['shop/web']!.Id);
    expectLabelsClean();
    expectNoLeak('/status', JSON.stringify(status));
    const metrics = await (await fetch(`${agent.url}/metrics`)).text();
    expect(metrics).toContain('shop/db');
    expectNoLeak('/metrics', metrics);
    await agent.stop();
    // The agent logged its passes (debug level): the recreates are in the log, the values are not.
    const log = agent.logs.map((l) => JSON.stringify(l)).join('\n');
    expect(log).toContain('shop/api');
    expectNoLeak('agent log', log);
  });
});

describe('a container that prints the secret and fails', () => {
  // Its last log lines are quoted in gitdock's report of the failure: the
  // value they carry must be masked there too.
  const LEAKY = 'leaky';
  const LEAKY_HOST = 'web-2';
  const LEAKY_COMPOSE = `services:
  migrate:
    image: ${imageRef('app', '1.0')}
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
    command: ["sh", "-c", "echo connecting with $$DB_PASSWORD; exit 1"]
`;

  it('is reported without the value: apply, the CLI log, the agent log and /status', async () => {
    removeAllContainers();
    const leakyRepo = await createRepo({
      bare: true,
      files: {
        'gitdock.yaml': `hosts:\n  ${LEAKY_HOST}: {}\n`,
        [`hosts/${LEAKY_HOST}/${LEAKY}/compose.yaml`]: LEAKY_COMPOSE,
      },
    });
    // Every channel is checked before the verdict, so one failure names all that leak.
    const found: Record<string, string[]> = {};
    const check = (what: string, run: CliRun | string) => {
      const text = typeof run === 'string' ? run : `${run.stdout}\n${run.stderr}`;
      const where = leaks(text);
      if (where.length > 0) found[what] = where;
    };
    try {
      const leakyEnv = path.join(scratch, 'env-leaky');
      fs.mkdirSync(leakyEnv, { recursive: true });
      fs.writeFileSync(path.join(leakyEnv, `${LEAKY}.env`), `DB_PASSWORD=${SECRET_3}\n`);
      const args = ['--repo', leakyRepo.dir, '--host', LEAKY_HOST, '--env-dir', leakyEnv];
      for (const output of ['text', 'json']) {
        const applied = await gitdock(
          ['apply', ...args, '--state-dir', stateDir, '--output', output],
          { GITDOCK_LOG_LEVEL: 'info' },
        );
        expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(1);
        // The failure is reported with the container's own words, the value masked.
        expect(applied.stdout).toContain('connecting with ***');
        check(`failed apply -o ${output}: stdout`, applied.stdout);
        check(`failed apply -o ${output}: stderr (log)`, applied.stderr);
      }

      agent = await startAgent([
        '--host',
        LEAKY_HOST,
        '--repo',
        leakyRepo.bareDir!,
        '--state-dir',
        path.join(scratch, 'state-leaky'),
        '--env-dir',
        leakyEnv,
      ]);
      const status = await waitFor(
        async () => {
          const s = await agent!.status();
          return s.services.find((x) => x.sync === 'Failed') && s;
        },
        { timeoutMs: 60_000, what: 'the agent to report leaky/migrate Failed' },
      );
      expect(JSON.stringify(status)).toContain('connecting with ***');
      check('/status of a failed service', JSON.stringify(status));
      await agent.stop();
      check('agent log of a failed service', agent.logs.map((l) => JSON.stringify(l)).join('\n'));
      expect(found).toEqual({});
    } finally {
      await leakyRepo.cleanup();
    }
  });
});
