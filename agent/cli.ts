/**
 * The `pi-controller agent` command. `src/cli/main.ts` runs it through {@link runAgentCli}, which
 * loads only the agent's modules (no Koa, SQLite or control plane code), so the agent stays small
 * on a Pi Zero 2 W; for the full CLI, main.ts hands {@link agentCommand} to the program, which
 * mounts it beside its own commands (so `--help` lists it). Nothing here imports the CLI program.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { createLogging, LogRing } from '../src/log/index.js';

/** What the command needs from its surroundings (the CLI's Io has these and more). */
export interface AgentIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Called to wait for SIGINT/SIGTERM. */
  onStop(fn: () => void): void;
}

/** The CLI's exit codes (src/cli/exit.ts) that the agent command ends with. */
const EXIT = { OK: 0, ERROR: 1, USAGE: 2 } as const;

/** The package version (from package.json). */
export function agentVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Adds `agent` to a commander program (the full CLI's, or the agent-only one below). */
export function agentCommand(program: Command, io: AgentIo): void {
  program
    .command('agent')
    .description("run the node agent in the foreground (owns this Pi's pins; dials the control plane over mutual TLS)")
    .option('--server <url>', 'agent endpoint of the control plane, https://host:port (PI_CONTROLLER_SERVER)')
    .option('--join-token <token>', 'one-time join token for the first start (PI_CONTROLLER_JOIN_TOKEN)')
    .option(
      '--join-token-file <file>',
      'file holding the join token, e.g. a mounted secret; a missing file means no token (PI_CONTROLLER_JOIN_TOKEN_FILE)',
    )
    .option('--state-dir <dir>', 'credentials, desired state and pin memory (default /var/lib/pi-controller-agent)')
    .option('--sim', 'use the behavioural register model instead of the GPIO device (off a Pi)')
    .option('--soc <soc>', 'SoC (default: detected; bcm2711 with --sim)')
    .option(
      '--sim-i2c <file>',
      'with --sim: JSON of simulated I2C devices {"1": {"0x76": {"type": "bme280", "temperatureC": 21.5}}} (default: BME280 at 0x76 and ADS1115 at 0x48 on bus 1)',
    )
    .option('--health-root <dir>', 'root of the /sys files health reads (default /)')
    .option('--health-interval <ms>', 'health report period in ms (default 5000)')
    .option('--safe-state <file>', 'JSON {"pin": level}: applied only on request')
    .option('--apply-safe-state', 'apply the safe state once at start')
    .option('--advertise', 'advertise _pi-controller._tcp over mDNS (default on a Pi; off with --sim) (PI_CONTROLLER_ADVERTISE=1)')
    .option('--no-advertise', 'do not advertise over mDNS (PI_CONTROLLER_ADVERTISE=0)')
    .option('--node-name <name>', 'expected node name (NODE_NAME, e.g. from the downward API)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .action(
      async (
        o: {
          server?: string;
          joinToken?: string;
          joinTokenFile?: string;
          stateDir?: string;
          sim?: boolean;
          soc?: string;
          healthRoot?: string;
          healthInterval?: string;
          safeState?: string;
          applySafeState?: boolean;
          nodeName?: string;
          advertise?: boolean;
          logLevel: string;
          simI2c?: string;
        },
        cmd: Command,
      ) => {
        // A usage error as commander reports its own (the message, exit code 2), wherever the command is mounted.
        const usage = (message: string): never => cmd.error(`error: ${message}`, { exitCode: EXIT.USAGE, code: 'agent.usage' });
        // Loaded only here: the agent opens the hardware addon, which the control plane never does.
        const { runAgent } = await import('./main.js');
        const level = o.logLevel as 'info';
        // The last 1000 lines (at most 256 KiB) stay in memory for `pi-controller logs <node>`.
        const logRing = new LogRing();
        const logging = createLogging({ level, format: 'auto', ring: logRing });
        const server = o.server ?? io.env.PI_CONTROLLER_SERVER;
        // The image has no shell to read a secret into an argument: the agent reads the file itself.
        const tokenFile = o.joinTokenFile ?? io.env.PI_CONTROLLER_JOIN_TOKEN_FILE;
        const joinToken =
          o.joinToken ?? io.env.PI_CONTROLLER_JOIN_TOKEN ?? (tokenFile ? readTokenFile(resolve(io.cwd, tokenFile)) : undefined);
        const nodeName = o.nodeName ?? io.env.NODE_NAME;
        const interval = o.healthInterval ? Number(o.healthInterval) : undefined;
        if (interval !== undefined && !(Number.isInteger(interval) && interval >= 100))
          usage('--health-interval must be an integer >= 100');
        if (o.simI2c && !o.sim) usage('--sim-i2c needs --sim');
        const envAdvertise = io.env.PI_CONTROLLER_ADVERTISE;
        if (envAdvertise !== undefined && envAdvertise !== '0' && envAdvertise !== '1') usage('PI_CONTROLLER_ADVERTISE must be 0 or 1');
        const advertise = o.advertise ?? (envAdvertise === undefined ? undefined : envAdvertise === '1');
        const { agent, chip, advertiser } = await runAgent({
          stateDir: resolve(io.cwd, o.stateDir ?? '/var/lib/pi-controller-agent'),
          sim: o.sim === true,
          log: logging.child('agent'),
          logRing,
          version: agentVersion(),
          ...(server ? { server } : {}),
          ...(joinToken ? { joinToken } : {}),
          ...(nodeName ? { nodeName } : {}),
          ...(advertise !== undefined ? { advertise } : {}),
          ...(o.soc ? { soc: o.soc as 'auto' } : {}),
          ...(o.healthRoot ? { healthRoot: o.healthRoot } : {}),
          ...(interval ? { healthIntervalMs: interval } : {}),
          ...(o.safeState ? { safeStateFile: o.safeState } : {}),
          applySafeState: o.applySafeState === true,
          ...(o.simI2c ? { simI2cFile: resolve(io.cwd, o.simI2c) } : {}),
        });
        await new Promise<void>((done) =>
          io.onStop(
            () =>
              void Promise.all([agent.stop(), advertiser?.stop()]).then(() => {
                chip.close();
                done();
              }, done),
          ),
        );
      },
    );
}

/** The trimmed token in `file`, or undefined when the file does not exist or is empty. */
function readTokenFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Runs `pi-controller agent ...` (argv without the `agent` word's predecessors); returns the exit code. */
export async function runAgentCli(argv: string[], io: AgentIo): Promise<number> {
  const program = new Command('pi-controller').exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  agentCommand(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError)
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? EXIT.OK : EXIT.USAGE;
    const e = err as Error & { code?: string };
    io.err(`error: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    // The board is checked before enrolment, so a join token given with this run is still unused.
    if (e.code === 'EBOARD_UNKNOWN')
      io.err('Not a Raspberry Pi: pass --sim to run on the behavioural register model (a join token given was not used).\n');
    return EXIT.ERROR;
  }
}
