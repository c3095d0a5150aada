/** The CLI run in-process against a control plane, its output collected: for tests that drive `pi-controller ...`. */
import { run, type Io } from '../../src/cli/program.js';

/** A function running `pi-controller ARGV...` against `url` with `token` (and `env` besides), resolving with its exit code and output. */
export function cliAt(url: string, token: string | undefined, cwd: string, env: Record<string, string> = {}) {
  return async (...argv: string[]) => {
    let out = '';
    let err = '';
    const io: Io = {
      out: (x) => (out += x),
      err: (x) => (err += x),
      env: { ...env, PI_CONTROLLER_URL: url, ...(token !== undefined ? { PI_CONTROLLER_TOKEN: token } : {}) },
      cwd,
      onStop: () => undefined,
    };
    return { code: await run(argv, io), out, err };
  };
}
