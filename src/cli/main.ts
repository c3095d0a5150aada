#!/usr/bin/env node
/** The `pi-controller` binary. */
import { run } from './program.js';

const stops: (() => void)[] = [];
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const fn of stops.splice(0)) fn();
    // A second signal ends the process at once.
    process.once(sig, () => process.exit(130));
  });
}

const code = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  onStop: (fn) => stops.push(fn),
});
process.exitCode = code;
