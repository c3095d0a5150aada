#!/usr/bin/env node
/** The `pi-controller` binary. */

const stops: (() => void)[] = [];
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const fn of stops.splice(0)) fn();
    // A second signal ends the process at once.
    process.once(sig, () => process.exit(130));
  });
}
// A child of another process (the local agent that `serve` starts) stops when its parent's end
// of the stdin pipe closes: that happens however the parent ends, even with SIGKILL, so no
// orphan is left behind driving pins.
if (process.env.PI_CONTROLLER_STOP_WITH_PARENT === '1') {
  process.stdin.once('close', () => {
    for (const fn of stops.splice(0)) fn();
  });
  process.stdin.resume();
}

const argv = process.argv.slice(2);
const io = {
  out: (s: string) => process.stdout.write(s),
  err: (s: string) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
  onStop: (fn: () => void) => stops.push(fn),
};
// The agent runs on small Pis: its command loads only the agent's modules. The full program
// is given the agent's command to mount beside its own (it does not import the agent).
const { agentCommand, runAgentCli } = await import('../../agent/cli.js');
const code = argv[0] === 'agent' ? await runAgentCli(argv, io) : await (await import('./program.js')).run(argv, io, [agentCommand]);
process.exitCode = code;
// The command has finished (a server after its orderly stop). Whatever still holds the event
// loop now is a straggler, such as a request to an API server that never answers waiting for
// its own timeout: it may finish for a moment, then the process ends with the command's code.
setTimeout(() => process.exit(code), 2000).unref();
