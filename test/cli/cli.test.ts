import t from 'tap';
import { statSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type Io } from '../../src/cli/program.js';
import { EXIT } from '../../src/cli/exit.js';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { tempDir } from '../support/tmp.js';
import { Writable } from 'node:stream';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

async function start(
  t: { teardown(fn: () => Promise<void> | void): void },
  dataDir: string,
  extra: Record<string, string> = {},
): Promise<{ cp: RunningControlPlane; banner: string }> {
  let banner = '';
  const config = loadConfig({ env: {}, cwd: dataDir, flags: { '/dataDir': dataDir, '/http/port': 0, ...extra } });
  const cp = await startControlPlane({ config, version: 'test', logging: quietLogging(), out: (s) => (banner += s) });
  t.teardown(() => cp.close());
  return { cp, banner };
}

function cli(env: Record<string, string | undefined>, cwd: string) {
  return async (...argv: string[]) => {
    let out = '';
    let err = '';
    const io: Io = { out: (s) => (out += s), err: (s) => (err += s), env, cwd, onStop: () => undefined };
    const code = await run(argv, io);
    return { code, out, err };
  };
}

t.test('serve: first start creates the admin token, prints it once, writes it 0600', async (t) => {
  const dir = tempDir(t);
  const { cp, banner } = await start(t, dir);
  t.ok(cp.adminToken);
  t.match(banner, cp.adminToken!);
  t.match(banner, /curl -H "Authorization: Bearer/);
  t.equal(statSync(cp.adminTokenFile).mode & 0o777, 0o600);
  t.equal(readFileSync(cp.adminTokenFile, 'utf8').trim(), cp.adminToken);
  const r = await fetch(cp.url + '/api/v1/whoami', { headers: { authorization: `Bearer ${cp.adminToken}` } });
  t.equal(((await r.json()) as { role: string }).role, 'admin');
  await t.rejects(start(t, dir), { code: 'ALREADY_RUNNING' }, 'a second server on the same data directory is refused');
  await cp.close();
  t.notOk(existsSync(join(dir, 'serve.pid')));
  const again = await start(t, dir);
  t.equal(again.cp.adminToken, undefined, 'the second start creates no new token');
  t.notMatch(again.banner, /pct_/, 'and prints no secret');
});

t.test('serve: two servers on --port 0 each get an agent endpoint on a free port', async (t) => {
  const a = await start(t, tempDir(t));
  const b = await start(t, tempDir(t));
  const endpoint = (banner: string) => /Agent endpoint \(mutual TLS\) at (https:\/\/\S+?);/.exec(banner)?.[1];
  t.ok(endpoint(a.banner), a.banner);
  t.ok(endpoint(b.banner), b.banner);
  t.not(endpoint(a.banner), endpoint(b.banner));
  t.notMatch(b.banner, /NOT running/);
});

t.test('serve: HTTPS with a generated certificate, and the CLI trusts it with --ca', async (t) => {
  const dir = tempDir(t);
  const { cp } = await start(t, dir, { '/http/tls': 'on' });
  t.match(cp.url, /^https:/);
  const c = cli({ HOME: dir }, dir);
  const ok = await c('--url', cp.url, '--token', cp.adminToken!, '--ca', join(dir, 'server-cert.pem'), 'whoami', '--json');
  t.equal(ok.code, EXIT.OK, ok.err);
  const bad = await c('--url', cp.url, '--token', cp.adminToken!, 'whoami');
  t.equal(bad.code, EXIT.UNREACHABLE, 'an untrusted certificate is refused');
});

t.test('CLI against a running server', async (t) => {
  const dir = tempDir(t);
  const { cp } = await start(t, dir);
  const env = { HOME: dir, PI_CONTROLLER_URL: cp.url };
  const c = cli(env, dir);

  t.test('uses ./data/admin-token when nothing else is given', async (t) => {
    const local = cli({ HOME: dir, PI_CONTROLLER_URL: cp.url, PI_CONTROLLER_DATA_DIR: dir }, '/');
    t.equal((await local('whoami')).code, EXIT.OK);
  });

  t.test('login saves credentials 0600, later commands use them', async (t) => {
    const r = await c('--token', cp.adminToken!, 'login');
    t.equal(r.code, EXIT.OK, r.err);
    const saved = join(dir, '.config', 'pi-controller', 'cli.json');
    t.equal(statSync(saved).mode & 0o777, 0o600);
    const who = await c('whoami', '--json');
    t.equal(JSON.parse(who.out).name, 'admin');
  });

  t.test('nodes list/get with tables and --json; exit codes', async (t) => {
    cp.store.nodes.create({ name: 'pi-one', address: '10.0.0.1' });
    const table = await c('nodes', 'list');
    t.match(table.out, /^NAME\s+STATE\s+ADDRESS/);
    t.match(table.out, /pi-one\s+discovered\s+10\.0\.0\.1/);
    const json = await c('--json', 'nodes', 'list');
    t.equal(JSON.parse(json.out).items[0].name, 'pi-one');
    t.match((await c('nodes', 'get', 'pi-one')).out, /address\s+10\.0\.0\.1/);
    const missing = await c('nodes', 'get', 'nope');
    t.equal(missing.code, EXIT.NOT_FOUND);
    t.match(missing.err, /NOT_FOUND/);
    t.equal((await c('--token', 'pct_bad', 'nodes', 'list')).code, EXIT.AUTH);
    t.equal((await c('--url', 'http://127.0.0.1:1', 'nodes', 'list')).code, EXIT.UNREACHABLE);
    t.equal((await c('nodes', 'frobnicate')).code, EXIT.USAGE);
  });

  t.test('token create/list/revoke', async (t) => {
    const created = await c('--json', 'token', 'create', 'robot', '--role', 'operator');
    const { token, info } = JSON.parse(created.out) as { token: string; info: { id: string } };
    t.match(token, /^pct_/);
    t.match((await c('token', 'list')).out, /robot\s+operator/);
    const bad = await c('token', 'create', 'x', '--ttl', '5');
    t.equal(bad.code, EXIT.INVALID);
    t.match(bad.err, /\/body\/ttlSeconds/);
    t.equal((await c('--token', token, 'token', 'list')).code, EXIT.AUTH, 'an operator cannot list tokens');
    t.equal((await c('token', 'revoke', info.id)).code, EXIT.OK);
    t.equal((await c('--token', token, 'nodes', 'list')).code, EXIT.AUTH);
  });

  t.test('events follows the stream', async (t) => {
    const p = c('events', '--types', 'node.*', '--count', '2', '--json');
    await new Promise((r) => setTimeout(r, 200));
    cp.app.bus.emit('node.deleted', { id: 'a', name: 'a' });
    cp.app.bus.emit('job.log', { jobId: 'j', line: { seq: 1, at: new Date().toISOString(), stream: 'stdout', line: 'x' } });
    cp.app.bus.emit('node.deleted', { id: 'b', name: 'b' });
    const r = await p;
    t.equal(r.code, EXIT.OK, r.err);
    t.same(
      r.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).data.name),
      ['a', 'b'],
    );
  });

  t.test('events --since 0 --count N prints N events of the replay and stops', async (t) => {
    for (let i = 0; i < 10; i++) cp.store.tx(() => cp.app.bus.emit('node.deleted', { id: `r${i}`, name: `r${i}` }));
    const r = await c('events', '--since', '0', '--count', '3', '--json');
    t.equal(r.code, EXIT.OK, r.err);
    const lines = r.out.trim().split('\n');
    t.equal(lines.length, 3, r.out);
    const seqs = lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
    t.same(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'in order',
    );
    t.equal(seqs[0], 1, 'from the start of the replay');
    for (const bad of ['0', '-1', '2.5', 'x']) t.equal((await c('events', '--count', bad)).code, EXIT.USAGE, `--count ${bad}`);
    t.equal((await c('events', '--since', '-3')).code, EXIT.USAGE, '--since -3');
  });

  t.test('backup, and restore refuses while the server runs', async (t) => {
    const b = await c('--json', 'backup', '--label', 'cli');
    t.equal(b.code, EXIT.OK, b.err);
    const file = join(dir, 'backups', JSON.parse(b.out).file);
    t.ok(existsSync(file));
    const r = await c('restore', file, '--data-dir', dir);
    t.equal(r.code, EXIT.CONFLICT);
    t.match(r.err, /stop it first/);
  });
});

t.test('restore refuses a file that is not a usable pi-controller database with its own exit code', async (t) => {
  const dir = tempDir(t);
  const c = cli({ HOME: dir }, dir);
  const junk = join(dir, 'junk.sqlite');
  writeFileSync(junk, 'not a database at all');
  const r = await c('restore', junk, '--data-dir', join(dir, 'data'));
  t.equal(r.code, EXIT.BAD_DATABASE);
  t.equal(r.code, 9);
  t.match(r.err, /NOT_OUR_DATABASE: .*junk\.sqlite is not a SQLite database; nothing was changed/);
  t.notOk(existsSync(join(dir, 'data', 'state.sqlite')), 'nothing restored');
  const missing = await c('restore', join(dir, 'nope.sqlite'), '--data-dir', join(dir, 'data'));
  t.equal(missing.code, EXIT.NOT_FOUND);
  t.match(missing.err, /nope\.sqlite.*no such file/);
});
