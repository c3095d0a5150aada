import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

/**
 * The native suite: the compiled test files in dist/test/native. Each one runs on its own with
 * plain `node file.js` (no test runner, no loader), so the same files can be re-run by the legs in
 * test/legs under a sanitizer build, under qemu with ARM Node binaries, or on another Node.
 * A leg chooses which addon binary the files load with the PI_CONTROLLER_ADDON environment variable.
 */
export function nativeSuiteFiles(): string[] {
  const dir = join(repoRoot(), 'dist', 'test', 'native');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.test.js'))
    .sort()
    .map((n) => join(dir, n));
}

export interface SuiteRun {
  file: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Counts parsed from the file's closing TAP comment `# { total: N, pass: N ... }`. */
  total: number;
  pass: number;
  fail: number;
  ms: number;
}

/**
 * `env` without what the tap runner gives its own children (TAP_*, _TAPJS_*, its NODE_OPTIONS
 * loader): with them the file reports as a subtest of that runner and never prints the closing
 * `# { total: N, pass: N }` line that runSuiteFile() counts.
 */
function standalone(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^(TAP_|_TAPJS_)/.test(k)) continue;
    if (k === 'NODE_OPTIONS' && v?.includes('@tapjs/')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * The failing assertions in a file's TAP output, each with the subtests it sits in and its YAML
 * diagnostic (found/wanted, stack, at), so a leg's report says what failed rather than only
 * that the file exited non-zero. Empty when nothing failed.
 */
export function failedAssertions(output: string): string {
  const lines = output.split('\n');
  const out: string[] = [];
  // Open subtests: a "# Subtest: name" line opens one; the ok/not ok line at its own indent closes it.
  const open: { indent: number; name: string; childFailed: boolean }[] = [];
  const yamlAfter = (i: number, indent: number): string[] => {
    const block: string[] = [];
    if (!/^\s*---\s*$/.test(lines[i + 1] ?? '')) return block;
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j] as string;
      block.push(`  ${l.slice(Math.min(indent, l.length - l.trimStart().length))}`);
      if (/^\s*\.\.\.\s*$/.test(l)) break;
    }
    return block;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (sub) {
      open.push({ indent: (sub[1] as string).length, name: (sub[2] as string).trim(), childFailed: false });
      continue;
    }
    const m = /^(\s*)(not )?ok \d+(?: - (.*?))?(\s+#\s*(TODO|SKIP)\b.*)?(\s+# time=\S+)?$/i.exec(line);
    if (!m) continue;
    const indent = (m[1] as string).length;
    const failed = Boolean(m[2]) && !m[4];
    const top = open[open.length - 1];
    if (top && top.indent === indent) {
      // A subtest's own closing line: a summary of its children, unless it failed by itself
      // (a thrown error, a timeout), which is reported like a leaf.
      open.pop();
      if (failed && !top.childFailed) out.push(`not ok - ${[...open.map((o) => o.name), top.name].join(' > ')}`, ...yamlAfter(i, indent));
      if (failed) {
        const parent = open[open.length - 1];
        if (parent) parent.childFailed = true;
      }
      continue;
    }
    if (!failed) continue;
    if (top) top.childFailed = true;
    out.push(`not ok - ${[...open.map((o) => o.name), m[3] ?? ''].join(' > ')}`, ...yamlAfter(i, indent));
  }
  return out.join('\n');
}

/**
 * Runs one native-suite file with `command` (e.g. ['qemu-aarch64-static', '-L', sysroot, node]).
 * Output is collected, not streamed, so the caller can assert on it.
 */
export function runSuiteFile(command: string[], file: string, env: NodeJS.ProcessEnv, timeoutMs = scaled(300_000)): Promise<SuiteRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = command;
    if (!cmd) {
      reject(new Error('empty command'));
      return;
    }
    const child = spawn(cmd, [...args, file], {
      cwd: repoRoot(),
      // Under qemu on a loaded machine a file can outlast tap's 30 s standalone default, which
      // would fail it for being slow: its own root timeout sits just inside this kill instead.
      env: { ...standalone(env), TAP: '1', TAP_TIMEOUT: String(Math.max(30, Math.floor(timeoutMs / 1000) - 15)) },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const m = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(output);
      resolve({
        file,
        code,
        signal,
        output,
        total: m ? Number(m[1]) : 0,
        pass: m ? Number(m[2]) : 0,
        fail: m && m[3] ? Number(m[3]) : 0,
        ms: Date.now() - started,
      });
    });
  });
}
