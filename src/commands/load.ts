import path from 'node:path';
import { readHostEnv } from '../adapters/host-env.js';
import type { Engine } from '../core/engine.js';
import type { HostState } from '../core/types.js';
import { readHostState, readRevision } from '../reconcile/read-revision.js';
import type { CommandIO } from './io.js';
import { resolveRepo, writeManifestErrors } from './options.js';

/** Opens the fleet repo; isomorphic-git is loaded only by commands that read git. */
export async function openRepo(repo: string, io: CommandIO) {
  const { openGitSource } = await import('../adapters/git-source.js');
  return openGitSource({ dir: resolveRepo(repo, io) });
}

/**
 * The desired state of `host` at `rev`, or undefined after printing every
 * manifest error of the revision (the caller then exits 1, having touched
 * nothing).
 */
export async function loadHostState(
  io: CommandIO,
  options: {
    repo: string;
    rev: string;
    host: string;
    /** `--env-dir`, relative to the working directory. */
    envDir?: string | undefined;
    /**
     * Resolve as the host itself would (apply): Compose variables come from
     * `envDir` or nowhere, and an unset required one is an error. Otherwise
     * (plan, render without `--env-dir`) unset variables are notes.
     */
    onHost?: boolean;
  },
): Promise<{ state: HostState; knownHosts: string[] } | undefined> {
  const git = await openRepo(options.repo, io);
  const hostEnv =
    options.envDir !== undefined
      ? await readHostEnv(path.resolve(io.cwd, options.envDir))
      : options.onHost
        ? new Map()
        : undefined;
  const { commit, state, knownHosts } = await readHostState({
    git,
    rev: options.rev,
    host: options.host,
    ...(hostEnv ? { hostEnv } : {}),
  });
  if (!state.ok) {
    writeManifestErrors(io, state.errors, commit);
    return undefined;
  }
  if (state.value.services.length === 0 && !knownHosts.includes(options.host)) {
    io.stderr.write(
      `gitdock: warning: no service in the repo selects host "${options.host}"` +
        (knownHosts.length ? ` (known hosts: ${knownHosts.join(', ')})` : '') +
        '\n',
    );
  }
  return { state: state.value, knownHosts };
}

export { readRevision };

/** The Docker engine named by DOCKER_HOST; dockerode is loaded only here. */
export async function openEngine(io: CommandIO): Promise<Engine> {
  const { createDockerEngine } = await import('../adapters/docker-engine.js');
  return createDockerEngine({ dockerHost: io.env.DOCKER_HOST });
}
