/** Quoting: every value comes back from a real shell byte for byte, and nothing in it runs. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cmd, raw, shC, shq } from '../../src/provision/quote.js';
import { hostile } from '../support/hostile.js';
import { tempDir } from '../support/tmp.js';

t.test('shq', async (t) => {
  t.test('keeps plain words readable and quotes everything else', async (t) => {
    t.equal(shq('/boot/firmware/cmdline.txt'), '/boot/firmware/cmdline.txt');
    t.equal(shq('v1.30.4+k3s1'), 'v1.30.4+k3s1');
    t.equal(shq(''), "''");
    t.equal(shq("it's"), `'it'\\''s'`);
    t.equal(shq('a b'), "'a b'");
    t.equal(shq(42), '42');
  });

  t.test('refuses a NUL byte with INVALID_ARGUMENT', async (t) => {
    t.throws(() => shq('a\0b'), { code: 'INVALID_ARGUMENT' });
  });

  t.test('every hostile value comes back from sh unchanged and nothing runs', async (t) => {
    const dir = tempDir(t);
    const marker = join(dir, 'marker');
    for (const v of hostile(marker)) {
      const out = execFileSync('sh', ['-c', cmd('printf', '%s', v)], { cwd: dir, encoding: 'utf8' });
      t.equal(out, v, JSON.stringify(v));
      // Twice quoted (a script handed to sh -c, as sudo runs it) stays intact too.
      const twice = execFileSync('sh', ['-c', shC(cmd('printf', '%s', v))], { cwd: dir, encoding: 'utf8' });
      t.equal(twice, v, `through sh -c: ${JSON.stringify(v)}`);
    }
    t.notOk(existsSync(marker), 'the marker was never created');
  });

  t.test('raw passes our own syntax through', async (t) => {
    t.equal(cmd('echo', 'a;b', raw('&&'), 'true'), "echo 'a;b' && true");
  });
});
