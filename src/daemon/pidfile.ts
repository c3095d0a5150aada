/** The data directory's pid file: one control plane per data directory, even across pid reuse. */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export const PID_FILE = 'serve.pid';

/** Process start time (clock ticks since boot) from /proc: with the pid it names one process, even after pid reuse. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the process recorded in a pid file (`pid starttime`) is still running. */
export function recordedServerAlive(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const [pid, start] = readFileSync(pidFile, 'utf8').trim().split(' ');
  const n = Number(pid);
  return n > 0 && start !== undefined && startTime(n) === start ? n : undefined;
}

/** Records this process in `pidFile`. */
export function writePidFile(pidFile: string): void {
  writeFileSync(pidFile, `${process.pid} ${startTime(process.pid) ?? ''}\n`);
}

export function removePidFile(pidFile: string): void {
  rmSync(pidFile, { force: true });
}
