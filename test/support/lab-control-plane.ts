/**
 * The whole control plane (startControlPlane: REST, the agent endpoint on mutual TLS, provisioning
 * jobs, the reconcilers of provisioned clusters) in its own process, started by a test with
 * `ip netns exec <lab controller namespace>`, so that it reaches the lab hosts' sshd and their K3s
 * API servers directly and the agents on lab hosts reach its agent endpoint. What differs from
 * `pi-controller serve` is only the lab's fake roots (`provision.roots`, a test seam: in the lab
 * every host's K3s lives under its own root directory). argv: JSON { dataDir, agentHost, roots }.
 * Prints one JSON line `{ url, adminToken }` once it listens; logs go to `<dataDir>/serve.log`;
 * SIGTERM closes it.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { startControlPlane } from '../../src/daemon/serve.js';
import { createLogging } from '../../src/log/index.js';

const a = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; agentHost: string; roots: Record<string, string> };
mkdirSync(a.dataDir, { recursive: true, mode: 0o700 });
const config = loadConfig({
  env: {},
  cwd: a.dataDir,
  flags: { '/dataDir': a.dataDir, '/http/port': 0, '/agents/host': a.agentHost, '/agents/port': 0, '/backup/intervalMinutes': 0 },
});
const logging = createLogging({ level: 'debug', format: 'json', destination: createWriteStream(join(a.dataDir, 'serve.log')) });
const cp = await startControlPlane({ config, version: 'test', logging, out: () => undefined, provision: { roots: a.roots } });
process.stdout.write(JSON.stringify({ url: cp.url, adminToken: cp.adminToken }) + '\n');
process.once('SIGTERM', () => void cp.close().finally(() => process.exit(0)));
