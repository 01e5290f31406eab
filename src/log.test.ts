import { describe, expect, it } from 'vitest';
import { createLog, withSecretsMasked } from './log.js';

/** A JSON logger writing into an array, as the agent's stdout would be read. */
function capture() {
  const lines: string[] = [];
  const log = createLog({
    format: 'json',
    level: 'debug',
    stream: { write: (t) => lines.push(t) },
  });
  return { log, text: () => lines.join('') };
}

describe('withSecretsMasked', () => {
  it.each<[string, (log: ReturnType<typeof createLog>) => void]>([
    ['in the message', (l) => l.info('password is hunter2-S')],
    ['in a field', (l) => l.error({ service: 'shop/api', error: 'exit 1: hunter2-S' }, 'failed')],
    ['deep in a field', (l) => l.warn({ outcome: { lines: ['x', 'pw=hunter2-S'] } }, 'failed')],
    ['in an error', (l) => l.error({ err: new Error('refused: hunter2-S') }, 'failed')],
    ['in a format argument', (l) => l.debug({}, 'value %s', 'hunter2-S')],
  ])('masks a secret %s', (_name, write) => {
    const { log, text } = capture();
    write(withSecretsMasked(log, ['hunter2-S']));
    expect(text()).toContain('***');
    expect(text()).not.toContain('hunter2');
  });

  it('writes everything else as it was', () => {
    const plain = capture();
    const masked = capture();
    const entry = { service: 'shop/web', reasons: ['tag 1.0 -> 1.1'], n: 3 };
    plain.log.info(entry, 'service converged');
    withSecretsMasked(masked.log, ['hunter2-S']).info(entry, 'service converged');
    const strip = (t: string) => t.replace(/"time":\d+/, '');
    expect(strip(masked.text())).toBe(strip(plain.text()));
  });

  it('without secrets is the logger itself', () => {
    const { log } = capture();
    expect(withSecretsMasked(log, [''])).toBe(log);
  });
});
