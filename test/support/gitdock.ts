// Runs the gitdock CLI in-process against the private engine, and reads what
// the engine did (containers, events) with the docker CLI, independently of
// gitdock's own adapter.
import { main } from '../../src/cli.js';
import { docker, stackEnv } from './stack.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `gitdock <args>` with DOCKER_HOST set to the private engine. */
export async function gitdock(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: { ...process.env, DOCKER_HOST: stackEnv().dockerHost, GITDOCK_LOG_LEVEL: 'warn', ...env },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

export interface ContainerView {
  id: string;
  name: string;
  state: string;
  image: string;
  imageId: string;
  labels: Record<string, string>;
}

/** Every container on the private engine, by name, read with the docker CLI. */
export function containers(): Map<string, ContainerView> {
  const ids = docker(['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
  const out = new Map<string, ContainerView>();
  if (ids.length === 0) return out;
  const inspected = JSON.parse(docker(['inspect', ...ids])) as {
    Id: string;
    Name: string;
    State: { Status: string };
    Config: { Image: string; Labels: Record<string, string> | null };
    Image: string;
  }[];
  for (const c of inspected) {
    const name = c.Name.replace(/^\//, '');
    out.set(name, {
      id: c.Id,
      name,
      state: c.State.Status,
      image: c.Config.Image,
      imageId: c.Image,
      labels: c.Config.Labels ?? {},
    });
  }
  return out;
}

/** The engine's clock-independent cursor for `mutationsSince`. */
export function eventCursor(): string {
  // docker events takes unix seconds with fractions; the engine runs on this machine.
  return (Date.now() / 1000).toFixed(3);
}

/** Actions that change a container, as the engine's event stream names them. */
const MUTATING = new Set([
  'create',
  'start',
  'stop',
  'kill',
  'die',
  'destroy',
  'rename',
  'pause',
  'unpause',
  'restart',
  'update',
]);

export interface ContainerEvent {
  /** As the engine names it, without the detail after a colon (`exec_start: sh` -> `exec_start`). */
  action: string;
  name: string;
  id: string;
}

/** Container events since `cursor`, with the container's name and ID. */
export function containerEventsSince(cursor: string): ContainerEvent[] {
  return docker([
    'events',
    '--since',
    cursor,
    '--until',
    eventCursor(),
    '--filter',
    'type=container',
    '--format',
    '{{.Action}}|{{.Actor.Attributes.name}}|{{.Actor.ID}}',
  ])
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [action = '', name = '', id = ''] = line.split('|');
      return { action: action.replace(/:.*$/, ''), name, id };
    });
}

/** Container events that changed something since `cursor`, as `action name` strings. */
export function mutationsSince(cursor: string): string[] {
  return containerEventsSince(cursor)
    .filter((e) => MUTATING.has(e.action))
    .map((e) => `${e.action} ${e.name}`);
}

/** Image pulls (and tag/untag) since `cursor`. */
export function imageEventsSince(cursor: string): string[] {
  return docker([
    'events',
    '--since',
    cursor,
    '--until',
    eventCursor(),
    '--filter',
    'type=image',
    '--format',
    '{{.Action}} {{.Actor.ID}}',
  ])
    .split('\n')
    .filter(Boolean);
}
