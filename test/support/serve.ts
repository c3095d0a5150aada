import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

export interface ServeProcess {
  child: ChildProcess;
  /** The control plane's URL, from its "control plane listening" log line. */
  url: string;
  /** Everything the process has written to stdout so far (start-up text and JSON log lines). */
  output(): string;
}

export interface StartServeOptions {
  /** Arguments after `serve --data-dir DIR` (default: `--port 0 --host 127.0.0.1`). */
  args?: string[];
  /** How long start-up may take before the promise rejects. */
  timeoutMs: number;
  /** Pass the child's stderr through to ours (default) or collect it into the start-up error. */
  stderr?: 'inherit' | 'collect';
}

/**
 * Starts the real `pi-controller serve` (dist/src/cli/main.js) as a child process with JSON logs and
 * no scheduled backups, and resolves once it logs that it is listening.
 */
export function startServe(dataDir: string, opts: StartServeOptions): Promise<ServeProcess> {
  const args = opts.args ?? ['--port', '0', '--host', '127.0.0.1'];
  const collect = opts.stderr === 'collect';
  const child = spawn(process.execPath, [join(repoRoot(), 'dist/src/cli/main.js'), 'serve', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', collect ? 'pipe' : 'inherit'],
    env: { ...process.env, PI_CONTROLLER_LOG_FORMAT: 'json', PI_CONTROLLER_BACKUP_INTERVAL_MINUTES: '0' },
  });
  let out = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const limit = scaled(opts.timeoutMs);
    const timer = setTimeout(() => reject(new Error(`serve did not start in ${limit / 1000} s: ${stderr}`)), limit);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      out += line + '\n';
      if (!line.startsWith('{')) return;
      const rec = JSON.parse(line) as { msg?: string; url?: string };
      if (rec.msg === 'control plane listening' && rec.url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url: rec.url, output: () => out });
      }
    });
  });
}
