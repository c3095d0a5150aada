/**
 * The journal command without a host: which unit names pass, and the command line a real `sh`
 * parses into exactly the argv meant (a stub `journalctl` prints what it got), hostile values
 * refused before anything is built.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { followCommand, journalCommand, MAX_JOURNAL_LINES, validateUnit } from '../../src/provision/k3s-ops.js';
import { hostile } from '../support/hostile.js';
import { tempDir } from '../support/tmp.js';

t.test('unit names: plain ones pass, anything else is 400 INVALID_UNIT', async (t) => {
  for (const u of ['k3s', 'k3s-agent', 'k3s.service', 'getty@tty1.service', 'sys-devices-a:b.device', 'a'.repeat(128)])
    t.equal(validateUnit(u), u, u);
  const dir = tempDir(t);
  for (const u of [
    '',
    '-k3s',
    '--since=1',
    'k3s;id',
    'k3s id',
    'a/b',
    '.k3s',
    'k3s\n',
    'k3s\0',
    'a'.repeat(129),
    'ünit',
    ...hostile(join(dir, 'm')),
  ]) {
    if (/^[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}$/.test(u)) continue; // a hostile value that happens to be a plain name
    t.throws(() => validateUnit(u), { code: 'INVALID_UNIT', status: 400 }, JSON.stringify(u));
    t.throws(() => journalCommand(u, 10, false), { code: 'INVALID_UNIT' }, JSON.stringify(u));
  }
});

t.test('lines must be 0..MAX', async (t) => {
  for (const n of [-1, 1.5, MAX_JOURNAL_LINES + 1, Number.NaN])
    t.throws(() => journalCommand('k3s', n, false), { code: 'INVALID_ARGUMENT' }, String(n));
});

t.test('the command line a shell runs is exactly journalctl -u UNIT -n N --no-pager -o short-iso [-f]', async (t) => {
  t.equal(journalCommand('k3s', 200, false), 'journalctl -u k3s -n 200 --no-pager -o short-iso');
  t.equal(journalCommand('k3s-agent', 5, true), 'journalctl -u k3s-agent -n 5 --no-pager -o short-iso -f');
  const dir = tempDir(t);
  // A folder name full of shell syntax, as a test root could be: quoted, never run.
  const bin = join(dir, "b in;touch x$(touch y)'`z`");
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'journalctl'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
  chmodSync(join(bin, 'journalctl'), 0o755);
  const out = execFileSync('sh', ['-c', journalCommand('getty@tty1.service', 7, true, join(bin, 'journalctl'))], {
    cwd: dir,
    encoding: 'utf8',
  });
  t.same(out.split('\n').slice(0, -1), ['-u', 'getty@tty1.service', '-n', '7', '--no-pager', '-o', 'short-iso', '-f']);
  for (const f of ['x', 'y', 'z']) t.notOk(existsSync(join(dir, f)), `${f} was not created`);
});

t.test('a follow ends, with everything it started, when its input ends (the reader left)', async (t) => {
  const dir = tempDir(t);
  // A stub journalctl that starts a child and waits, as the lab's shim (tail | awk) and a real -f do.
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  const pids = join(dir, 'pids');
  writeFileSync(join(bin, 'journalctl'), `#!/bin/sh\nsleep 300 &\necho $$ $! > ${JSON.stringify(pids)}\necho started\nwait\n`);
  chmodSync(join(bin, 'journalctl'), 0o755);
  // As the SSH executor runs it: under coreutils' timeout, which gives it its own process group.
  const child = spawn('timeout', ['-k', '2', '60', 'sh', '-c', followCommand(journalCommand('k3s', 0, true, join(bin, 'journalctl')))], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  const [stub, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number) as [number, number];
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  t.ok(alive(stub) && alive(sleeper), 'running while its input is open');
  child.stdin.end();
  await exited;
  for (let i = 0; i < 100 && (alive(stub) || alive(sleeper)); i++) await new Promise((r) => setTimeout(r, 50));
  t.notOk(alive(stub), 'the journal command ended');
  t.notOk(alive(sleeper), 'and what it started');
});
