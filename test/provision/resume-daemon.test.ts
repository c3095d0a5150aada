/**
 * The daemon's job runner resumes only jobs it submitted: a `node.prepare` job stored through
 * POST /api/v1/jobs (no host login) stays queued across a restart instead of being run and failed.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';
import { tempDir } from '../support/tmp.js';

const quietLogging = () => createLogging({ level: 'silent', format: 'json', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

t.test('a stored job without a login is left alone by the runner after a restart', async (t) => {
  const dir = tempDir(t);
  const config = loadConfig({ env: {}, cwd: dir, flags: { '/dataDir': dir, '/http/port': 0 } });
  const first = await startControlPlane({ config, version: 'test', logging: quietLogging(), out: () => undefined });
  const res = await fetch(`${first.url}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${first.adminToken}` },
    body: JSON.stringify({ kind: 'node.prepare' }),
  });
  t.equal(res.status, 201);
  const job = (await res.json()) as { id: string };
  await first.close();
  const second = await startControlPlane({ config, version: 'test', logging: quietLogging(), out: () => undefined });
  t.teardown(() => second.close());
  await new Promise((r) => setTimeout(r, 500));
  t.equal(second.store.jobs.require(job.id).state, 'queued');
});
