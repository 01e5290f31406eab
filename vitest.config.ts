import { defineConfig } from 'vitest/config';

// Two projects: `unit` is the fast loop (pure core, no IO beyond temp files);
// `integration` talks to the real private dockerd, registry and git repos
// started by scripts/stack.sh, and shares that one engine, so it runs files
// one at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // `*.unit.test.ts` under test/ need no engine: the agent on a fake one, in fake time.
          include: ['src/**/*.test.ts', 'test/**/*.unit.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
