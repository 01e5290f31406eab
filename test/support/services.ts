// Service files for the agent's integration tests: JSON (a subset of YAML)
// with the defaults every one of them wants, images from the private registry.
import { imageRef } from './stack.js';

/** `127.0.0.1:PORT/gitdock-test/<name>`: an image repository on the private registry, no tag. */
export const REPO_OF = (name: string): string => imageRef(name, 'x').replace(/:x$/, '');

/**
 * A service file: no network (the private dockerd has no bridge) and a short
 * settle, so a replacement is judged in half a second; `fields` override both.
 */
export function service(fields: Record<string, unknown>): string {
  return `${JSON.stringify({ network_mode: 'none', update: { settle: '500ms' }, ...fields }, null, 2)}\n`;
}
