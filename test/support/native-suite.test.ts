// The legs' report of a failing native-suite file: a real tap file that fails, run standalone as
// a leg runs it, and what failedAssertions() makes of its output.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { failedAssertions, runSuiteFile } from './native-suite.js';
import { tempDir } from './tmp.js';

t.test('a failing file: each failing assertion with its subtest path and diagnostic', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'fails.test.mjs');
  writeFileSync(
    file,
    `import t from ${JSON.stringify(import.meta.resolve('tap'))};
t.test('outer', async (t) => {
  t.test('inner', async (t) => {
    t.equal(1, 1, 'this one passes');
    t.equal(41, 42, 'the register holds 42');
  });
  t.ok(true, 'fine');
});
t.same([1, 2], [1, 3], 'the trace');
`,
  );
  const r = await runSuiteFile([process.execPath], file, process.env, 60_000);
  t.not(r.code, 0, 'the file exits non-zero');
  t.equal(r.fail, 2, 'its closing line counts two failures');
  const f = failedAssertions(r.output);
  t.match(f, /^not ok - outer > inner > the register holds 42$/m, 'the leaf with its subtests');
  t.match(f, /^\s*-42$/m, 'with what was wanted');
  t.match(f, /^\s*\+41$/m, 'and what was found');
  t.match(f, /^not ok - the trace$/m, 'a top-level failure');
  t.notMatch(f, /^not ok - outer$/m, "a subtest's own closing line is not repeated as a failure");
  t.equal(f.match(/^not ok - /gm)?.length, 2, 'two failures, the passing assertions left out');
});

t.test('a passing file gives nothing', async (t) => {
  t.equal(failedAssertions('TAP version 14\nok 1 - a\n1..1\n# { total: 1, pass: 1 }\n'), '');
});
