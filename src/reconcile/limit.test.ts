import { describe, expect, it } from 'vitest';
import { createLimit } from './limit.js';

/** A task the test finishes by hand: `settle()` resolves it, `fail()` rejects it. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, settle: () => resolve(), fail: (err: Error) => reject(err) };
}

/** Lets every queued microtask run. */
const flush = () => new Promise((r) => setImmediate(r));

describe('createLimit', () => {
  it.each([
    { max: 1, tasks: 5 },
    { max: 2, tasks: 6 },
    { max: 3, tasks: 3 },
    { max: 4, tasks: 2 },
  ])('max $max, $tasks tasks: never more than max at once, all run', async ({ max, tasks }) => {
    const limit = createLimit(max);
    let running = 0;
    let highest = 0;
    const gates = Array.from({ length: tasks }, deferred);
    const started: number[] = [];
    const all = gates.map((gate, i) =>
      limit(async () => {
        started.push(i);
        running++;
        highest = Math.max(highest, running);
        await gate.promise;
        running--;
        return i;
      }),
    );
    await flush();
    expect(started).toEqual([...Array(Math.min(max, tasks)).keys()]);
    expect(limit.active).toBe(Math.min(max, tasks));
    expect(limit.pending).toBe(Math.max(0, tasks - max));
    // Finish them last first: the places still go to the waiting in order.
    for (const gate of [...gates].reverse()) {
      gate.settle();
      await flush();
    }
    expect(await Promise.all(all)).toEqual([...Array(tasks).keys()]);
    expect(highest).toBe(Math.min(max, tasks));
    expect(limit.active).toBe(0);
    expect(limit.pending).toBe(0);
  });

  it('waiting tasks start in the order they asked', async () => {
    const limit = createLimit(1);
    const order: string[] = [];
    const first = deferred();
    const running = limit(async () => {
      order.push('a');
      await first.promise;
    });
    const rest = ['b', 'c', 'd'].map((name) => limit(async () => void order.push(name)));
    await flush();
    expect(order).toEqual(['a']);
    first.settle();
    await Promise.all([running, ...rest]);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a task that fails gives its place back and its caller gets the error', async () => {
    const limit = createLimit(1);
    const gate = deferred();
    const failing = limit(() => gate.promise);
    const next = limit(async () => 'next ran');
    gate.fail(new Error('boom'));
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe('next ran');
    expect(limit.active).toBe(0);
  });

  it('a task that throws before its first await gives its place back too', async () => {
    const limit = createLimit(1);
    const throwing = limit(() => {
      throw new Error('at once');
    });
    await expect(throwing).rejects.toThrow('at once');
    expect(await limit(async () => 1)).toBe(1);
  });

  it('a task asking while a place is being handed over waits its turn', async () => {
    const limit = createLimit(1);
    const order: string[] = [];
    const gate = deferred();
    const a = limit(async () => {
      await gate.promise;
      order.push('a');
    });
    const b = limit(async () => void order.push('b'));
    await flush();
    gate.settle();
    // Asks in the same tick as a's place is handed to b.
    const c = limit(async () => void order.push('c'));
    await Promise.all([a, b, c]);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('Infinity is no bound', async () => {
    const limit = createLimit(Number.POSITIVE_INFINITY);
    const gates = Array.from({ length: 100 }, deferred);
    const all = gates.map((g) => limit(() => g.promise));
    await flush();
    expect(limit.active).toBe(100);
    for (const g of gates) g.settle();
    await Promise.all(all);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s', (max) => {
    expect(() => createLimit(max)).toThrow(RangeError);
  });
});
