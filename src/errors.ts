/**
 * The one registry of thrown errors. Each has a stable code, a message
 * template and the exit code the CLI uses. `docs/errors.md` documents every
 * code; `errors.test.ts` keeps the two in step.
 *
 * Expected failures of pure functions (an invalid manifest) are returned as
 * values (`Result`), not thrown; these are for the edges.
 */

export const ERRORS = {
  GITDOCK_E_USAGE: { exit: 64, summary: 'The command line is wrong.' },
  GITDOCK_E_INVALID_MANIFESTS: { exit: 1, summary: 'The revision has invalid manifests.' },
  GITDOCK_E_GIT_REPO_NOT_FOUND: { exit: 1, summary: 'The path is not a git repository.' },
  GITDOCK_E_GIT_REV_NOT_FOUND: { exit: 1, summary: 'The revision does not exist.' },
  GITDOCK_E_GIT_READ: { exit: 1, summary: 'Reading the repository failed.' },
  GITDOCK_E_ENGINE_UNREACHABLE: { exit: 1, summary: 'The Docker engine cannot be reached.' },
  GITDOCK_E_ENGINE_REQUEST: { exit: 1, summary: 'The Docker engine refused a request.' },
  GITDOCK_E_PULL_FAILED: { exit: 1, summary: 'An image could not be pulled.' },
  GITDOCK_E_NAME_CONFLICT: {
    exit: 1,
    summary: 'A container not managed by gitdock holds a service name.',
  },
  GITDOCK_E_EMPTY_HOST_REFUSED: {
    exit: 1,
    summary: 'The revision would remove every service of the host.',
  },
  GITDOCK_E_ROLLOUT_FAILED: { exit: 1, summary: 'A new container did not come up.' },
  GITDOCK_E_APPLY_FAILED: { exit: 1, summary: 'One or more services failed to converge.' },
  GITDOCK_E_GIT_FETCH: { exit: 1, summary: 'Fetching the remote repository failed.' },
  GITDOCK_E_WEBHOOK: { exit: 1, summary: 'The webhook secret cannot be used.' },
  GITDOCK_E_STATE_DIR: { exit: 1, summary: "The agent's state directory cannot be used." },
  GITDOCK_E_GIT_REPORT: {
    exit: 1,
    summary:
      'Recording the applied commit (refs/gitdock/applied/<host>) or a failed release (refs/gitdock/failed/<host>) failed.',
  },
  GITDOCK_E_SIM: {
    exit: 1,
    summary: 'The simulated fleet cannot be started, reached or stopped as asked.',
  },
  GITDOCK_E_ROLLBACK_CONFLICT: {
    exit: 1,
    summary: 'A later commit changed the files the rollback would revert.',
  },
  GITDOCK_E_ROLLBACK_REFUSED: { exit: 1, summary: 'The rollback cannot be made as asked.' },
  GITDOCK_E_DIRTY_WORKTREE: { exit: 1, summary: 'The working tree has uncommitted changes.' },
  GITDOCK_E_GIT_IDENTITY: { exit: 1, summary: 'No commit author is configured.' },
  GITDOCK_E_GIT_WRITE: { exit: 1, summary: 'Writing a commit in the repository failed.' },
  GITDOCK_E_GIT_PUSH: { exit: 1, summary: 'Pushing the branch to its remote failed.' },
  GITDOCK_E_ENV_DIR: {
    exit: 1,
    summary: "The host's env directory (--env-dir) cannot be read.",
  },
  GITDOCK_E_HOST_LOCKED: {
    exit: 1,
    summary: 'The host is locked: a gitdock agent manages it, or another apply is running.',
  },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** A thrown error with a stable code and structured data for logs and JSON output. */
export class GitdockError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GitdockError';
    this.code = code;
    this.data = data;
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }
}

export function isGitdockError(err: unknown, code?: ErrorCode): err is GitdockError {
  return err instanceof GitdockError && (code === undefined || err.code === code);
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
