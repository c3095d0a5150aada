// The inner loop's test runner: `node scripts/run-tests.mjs [--jobs=N] FILE...`
//
// Each test file is a tap test that also runs on its own (`node file.js` prints TAP and exits
// non-zero on a failure). tap's runner starts every file with its process tracker loaded
// (@tapjs/processinfo, there for coverage: about 0.8 s of CPU per file on this kind of machine,
// more than many unit files spend on their tests). Coverage is off here, so this runner starts
// each file as tap would without that tracker: the same node arguments from package.json's
// "tap"."node-arg", TAP=1 and tap's timeout. Results are saved where tap saves them
// (.tap/test-results/FILE.tap) so scripts/tap-summary.mjs counts both the same way.
//
// Files run longest first (from the last run's times, kept in .tap/run-times.json), N at a time.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const nodeArgs = ['--enable-source-maps', ...(pkg.tap?.['node-arg'] ?? [])];
const timeoutS = Number(pkg.tap?.timeout ?? 30);
const resultsDir = '.tap/test-results';
const timesFile = '.tap/run-times.json';

let jobs = 2 * availableParallelism();
const files = [];
for (const a of process.argv.slice(2)) {
  const j = /^(?:--jobs=|-j)(\d+)$/.exec(a);
  if (j) jobs = Math.max(1, Number(j[1]));
  else if (a.startsWith('-')) {
    console.error(`run-tests: unknown option ${a} (only --jobs=N; use npm test -- FILE... -- ${a} to pass it to tap)`);
    process.exit(2);
  } else files.push(a);
}

let lastTimes = {};
try {
  lastTimes = JSON.parse(readFileSync(timesFile, 'utf8'));
} catch {
  /* first run: the given order */
}
const queue = [...files].sort((a, b) => (lastTimes[b] ?? Infinity) - (lastTimes[a] ?? Infinity));

const times = {};
const failures = [];

// Runs one file; resolves when it has exited (or was killed at the timeout).
function runOne(file) {
  return new Promise((resolve) => {
    const out = join(resultsDir, `${file}.tap`);
    mkdirSync(dirname(out), { recursive: true });
    const tapOut = createWriteStream(out);
    const started = Date.now();
    const child = spawn(process.execPath, [...nodeArgs, file], {
      env: { ...process.env, TAP: '1', TAP_TIMEOUT: String(timeoutS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      tapOut.write(d);
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
    });
    // tap's own timeout ends the file from inside; this is the backstop if the file hangs outside a test.
    let timedOut = false;
    const killer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      },
      (timeoutS + 30) * 1000,
    );
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      tapOut.end();
      const secs = (Date.now() - started) / 1000;
      times[file] = secs;
      const failed = code !== 0 || timedOut;
      console.log(`${failed ? 'FAIL' : 'ok  '} ${secs.toFixed(1).padStart(6)} s  ${file}`);
      if (failed) {
        const why = timedOut ? `killed after ${timeoutS + 30} s` : `exit ${code}${signal ? ` (signal ${signal})` : ''}`;
        failures.push({ file, why, stdout, stderr });
      }
      resolve();
    });
  });
}

async function worker() {
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runOne(f);
}
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

writeFileSync(timesFile, JSON.stringify({ ...lastTimes, ...times }, null, 1));

// Each failing file: its failing assertions with their diagnostics, then the end of its stderr.
for (const { file, why, stdout, stderr } of failures) {
  console.log(`\n=== ${file}: ${why}`);
  const lines = stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*not ok /.test(lines[i])) continue;
    const indent = /^\s*/.exec(lines[i])[0].length;
    console.log(lines[i]);
    for (let k = i + 1; k < lines.length; k++) {
      const ind = /^\s*/.exec(lines[k])[0].length;
      if (lines[k].trim() !== '' && ind <= indent) break;
      console.log(lines[k]);
    }
  }
  const tail = stderr.trimEnd().split('\n').slice(-30).join('\n');
  if (tail) console.log(`--- stderr (last lines):\n${tail}`);
}
process.exit(failures.length > 0 ? 1 : 0);
