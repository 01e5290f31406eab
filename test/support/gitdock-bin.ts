// `gitdock` as a process for scripts under test (examples/ci/gitdock-review.sh),
// run from the sources with tsx, so a test never depends on a stale dist/.
import { main } from '../../src/cli.js';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
