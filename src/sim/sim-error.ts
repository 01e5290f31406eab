import { GitdockError } from '../errors.js';

/**
 * A sim that cannot be started, reached or stopped as asked
 * (GITDOCK_E_SIM). The message says what failed and what to do.
 */
export class SimError extends GitdockError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GITDOCK_E_SIM', message, {}, options);
    this.name = 'SimError';
  }
}
