// Pieces shared by the engine tests (the contract, the adapter against the
// private dockerd, its event stream).
import { expect } from 'vitest';
import type { ContainerSpec } from '../../src/core/types.js';
import { GitdockError } from '../../src/errors.js';
import { REPO_OF } from './services.js';

/** The GitdockError that `promise` rejects with; fails the test if it resolves or throws something else. */
export async function rejection(promise: Promise<unknown>): Promise<GitdockError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(GitdockError);
    return err as GitdockError;
  }
  throw new Error('expected a rejection');
}

/** A container spec of the stack's app:1.0, no network, no restart; `overrides` win. */
export function spec(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: REPO_OF('app'),
    tag: '1.0',
    environment: {},
    ports: [],
    volumes: [],
    networkMode: 'none',
    restart: 'no',
    labels: {},
    stopGracePeriodMs: 2000,
    ...overrides,
  };
}
