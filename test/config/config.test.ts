import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, DEFAULTS, isLoopback } from '../../src/config/index.js';
import { tempDir } from '../support/tmp.js';

t.test('configuration', async (t) => {
  t.test('defaults work with nothing given', async (t) => {
    const c = loadConfig({ cwd: '/srv' });
    t.equal(c.dataDir, '/srv/data');
    t.same(c.http, DEFAULTS.http);
  });

  t.test('file < env < flags', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  host: 0.0.0.0\nlog:\n  components:\n    http: warn\n');
    const c = loadConfig({ file, env: { PI_CONTROLLER_PORT: '9100' }, flags: { '/dataDir': '/x' } });
    t.equal(c.http.port, 9100, 'env beats the file');
    t.equal(c.http.host, '0.0.0.0', 'the file beats defaults');
    t.equal(c.dataDir, '/x');
    t.same(c.log.components, { http: 'warn' });
    t.equal(c.sources['/http/port'], 'env PI_CONTROLLER_PORT');
    const f = loadConfig({ file, env: { PI_CONTROLLER_PORT: '9100' }, flags: { '/http/port': 9200 } });
    t.equal(f.http.port, 9200, 'flags beat env');
  });

  t.test('every problem is reported with its path and source', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ http: { tls: 'maybe' }, backup: { keep: 0 }, bogus: 1, log: { components: { http: 'loud' } } }));
    const err = t.throws(() => loadConfig({ file, env: { PI_CONTROLLER_PORT: 'eighty' } }), { code: 'CONFIG_INVALID' }) as unknown as {
      problems: { path: string; message: string }[];
    };
    const byPath = Object.fromEntries(err.problems.map((p) => [p.path, p.message]));
    t.match(byPath['/http/port'], /integer.*env PI_CONTROLLER_PORT/);
    t.match(byPath['/http/tls'], /one of "auto", "on", "off".*file/);
    t.match(byPath['/backup/keep'], /greater or equal to 1/);
    t.ok(byPath['/bogus'], 'unknown keys are refused');
    t.ok(byPath['/log/components/http']);
  });

  t.test('numbers from env and flags convert only when spelled exactly', async (t) => {
    for (const port of ['8080.5', '1e3', '0x50', ' 80']) {
      const err = t.throws(
        () => loadConfig({ env: { PI_CONTROLLER_PORT: port } }),
        { code: 'CONFIG_INVALID' },
        `port ${port}`,
      ) as unknown as {
        problems: { path: string }[];
      };
      t.same(
        err.problems.map((p) => p.path),
        ['/http/port'],
      );
    }
    t.throws(() => loadConfig({ flags: { '/backup/keep': '2.5' } }), { code: 'CONFIG_INVALID' });
    t.equal(loadConfig({ env: { PI_CONTROLLER_PORT: '8081' } }).http.port, 8081);
  });

  t.test('the agent port is its own option, and follows --port 0 when not set', async (t) => {
    t.equal(loadConfig({}).agents.port, 8443);
    t.equal(loadConfig({ flags: { '/http/port': '9000' } }).agents.port, 8443, 'a fixed HTTP port leaves the agent port alone');
    t.equal(loadConfig({ flags: { '/http/port': '0' } }).agents.port, 0, 'any free HTTP port: any free agent port');
    t.equal(loadConfig({ flags: { '/http/port': '0', '/agents/port': '9443' } }).agents.port, 9443, 'unless it is set');
    t.equal(loadConfig({ env: { PI_CONTROLLER_AGENT_PORT: '9444' }, flags: { '/http/port': '0' } }).agents.port, 9444);
  });

  t.test('an unreadable or non-object file is refused', async (t) => {
    t.throws(() => loadConfig({ file: '/nonexistent/c.yaml' }), { code: 'CONFIG_INVALID', message: /cannot read/ });
    const dir = tempDir(t);
    writeFileSync(join(dir, 'l.yaml'), '- 1\n- 2\n');
    t.throws(() => loadConfig({ file: join(dir, 'l.yaml') }), { code: 'CONFIG_INVALID', message: /must hold an object/ });
  });

  t.test('loopback detection', async (t) => {
    t.ok(isLoopback('127.0.0.1'));
    t.ok(isLoopback('localhost'));
    t.notOk(isLoopback('0.0.0.0'));
    t.notOk(isLoopback('10.0.0.1'));
  });
});
