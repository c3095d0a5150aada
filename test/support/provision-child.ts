/**
 * Runs one provisioning job in its own process so a test can kill the process mid-way:
 * argv = JSON { db, secretDir, lab, host, params }. Prints `{"jobId":...}` once the job is stored.
 */
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { filesKind, FILES_KIND } from './provision-kinds.js';
import { labSock } from './lab-ssh.js';
import type { Lab } from './lab.js';

const a = JSON.parse(process.argv[2] ?? '{}') as { db: string; secretDir: string; lab: Lab; host: string; params: Record<string, unknown> };
const store = openStore({ file: a.db });
const runner = new JobRunner({
  store,
  bus: new EventBus(),
  log: silentLogger(),
  kinds: [filesKind()],
  secrets: openSecretBox(a.secretDir),
  transport: (host, port) => labSock(a.lab, host, port),
});
const job = runner.submit(FILES_KIND, { login: { host: a.host, user: 'pi', identityFile: a.lab.clientKey }, params: a.params });
process.stdout.write(JSON.stringify({ jobId: job.id }) + '\n');
void runner.wait(job.id).then((j) => {
  process.stdout.write(JSON.stringify({ state: j.state }) + '\n');
  store.close();
});
