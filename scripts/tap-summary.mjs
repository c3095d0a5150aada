// Prints one closing line for the whole run: "tests: N passed, N failed, N skipped".
// It counts leaf assertions in tap's saved results (a subtest's own summary line is not a leaf).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.tap/test-results';
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.tap')) files.push(p);
  }
};
try {
  walk(dir);
} catch {
  /* no results at all: counted as a failure below */
}

let passed = 0,
  failed = 0,
  skipped = 0;
const times = [];
for (const f of files) {
  // The file's own closing "# time=N ms" line: how long it ran.
  const m = /^# time=([0-9.]+)ms\s*$/m.exec(readFileSync(f, 'utf8').split('\n').slice(-3).join('\n'));
  if (m) times.push([Number(m[1]), f.replace(/^.*?test-results\//, '').replace(/\.tap$/, '')]);
  const subtests = [];
  // A failure inside a subtest makes the subtest's own "not ok" line a summary, not a new failure.
  const markParent = () => {
    const p = subtests[subtests.length - 1];
    if (p) p.childFailed = true;
  };
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (sub) {
      subtests.push({ indent: sub[1].length, name: sub[2].trim(), childFailed: false });
      continue;
    }
    const m = /^(\s*)(not )?ok \d+(?: - (.*?))?(?:\s+#\s*(SKIP|TODO)\b.*)?$/i.exec(line);
    if (!m) continue;
    const indent = m[1].length;
    const top = subtests[subtests.length - 1];
    if (top && top.indent === indent) {
      subtests.pop();
      // A parent that failed without a failing child (a thrown error, a timeout) still counts.
      if (m[2] && !m[4] && !top.childFailed) failed++;
      if (m[2] && !m[4]) markParent();
      if (m[4] && /skip/i.test(m[4])) skipped++;
      continue;
    }
    if (m[4] && /skip/i.test(m[4])) skipped++;
    else if (m[2] && !m[4]) {
      failed++;
      markParent();
    } else passed++;
  }
}
if (times.length > 1) {
  console.log('slowest test files:');
  for (const [ms, name] of times.sort((a, b) => b[0] - a[0]).slice(0, 10))
    console.log(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${name}`);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
