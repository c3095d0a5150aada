/** `pi-controller job logs [-f]` against a running control plane with a real SQLite file. */
import t from 'tap';
import { Writable } from 'node:stream';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { tempDir } from '../support/tmp.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

t.test('job logs', async (t) => {
  const dir = tempDir(t);
  const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': dir, '/http/port': 0 } });
  const cp = await startControlPlane({ config, version: 'test', logging: quietLogging(), out: () => undefined });
  t.teardown(() => cp.close());
  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const io: Io = {
      out: (s) => (out += s),
      err: (s) => (err += s),
      env: { HOME: dir, PI_CONTROLLER_URL: cp.url, PI_CONTROLLER_TOKEN: cp.adminToken },
      cwd: dir,
      onStop: () => undefined,
    };
    const code = await run(argv, io);
    return { code, out, err };
  };
  const { store } = cp;

  t.test('prints the lines so far, control characters made visible', async (t) => {
    const job = store.jobs.create({ kind: 'node.prepare' }, 'test');
    store.jobs.appendLog(job.id, 'info', 'cmdline: running');
    store.jobs.appendLog(job.id, 'stderr', 'evil \u001b]0;title\u0007 output');
    const r = await cli('job', 'logs', job.id);
    t.equal(r.code, EXIT.OK, r.err);
    t.match(r.out, /info\s+cmdline: running\n/);
    t.match(r.out, /stderr\s+evil \\x1b\]0;title\\x07 output\n/);
    t.notOk(r.out.includes('\u001b'), 'no escape byte reaches the terminal');
    const json = await cli('job', 'logs', job.id, '--json');
    t.same(
      json.out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
      [1, 2],
    );
  });

  t.test('-f follows until the job ends; exit 0 when it succeeded, 1 with the error when it failed', async (t) => {
    for (const [end, code] of [
      ['succeeded', EXIT.OK],
      ['failed', EXIT.ERROR],
    ] as const) {
      const job = store.jobs.create({ kind: 'node.prepare' }, 'test');
      store.jobs.setState(job.id, 'running');
      store.jobs.appendLog(job.id, 'info', 'first');
      const following = cli('job', 'logs', job.id, '-f', '--interval', '50');
      setTimeout(() => {
        store.jobs.appendLog(job.id, 'stdout', 'later');
        store.jobs.setState(job.id, end, end === 'failed' ? 'CGROUPS_NOT_ENABLED: still off' : null);
      }, 300);
      const r = await following;
      t.equal(r.code, code, r.err);
      t.match(r.out, /first\n.*later\n/s, 'lines that came while following are printed');
      if (end === 'failed') t.match(r.err, /CGROUPS_NOT_ENABLED: still off/);
    }
  });

  t.test('an unknown job is NOT_FOUND', async (t) => {
    const r = await cli('job', 'logs', '00000000-0000-4000-8000-000000000000');
    t.equal(r.code, EXIT.NOT_FOUND);
  });
});
