/**
 * The agent advertises `_pi-controller._tcp` over mDNS, beside the host's stock avahi-daemon:
 * `pi-controller serve` runs in the lab's controller namespace, an agent (`--sim`, registers on a
 * file) enrols from inside a lab host (its network, hostname and mount namespaces, where avahi
 * already holds UDP 5353), and discovery's own browser in the controller namespace finds the
 * agent's instance with its TXT keys, while avahi's services of that host are still answered.
 * When the agent stops (it sends a goodbye and closes), the instance is no longer found. Needs root and scripts/setup/50-lab.sh.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MdnsHost } from '../../src/discovery/mdns.js';
import { labSkipReason, labUp, logLine, runChild, serveInLab } from '../support/lab.js';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const MAIN = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('the agent advertises _pi-controller._tcp beside stock avahi', async (t) => {
    const lab = labUp(t, 2);
    const dir = tempDir(t);
    const ctl = lab.controller.address;
    const { url, agentUrl, env } = await serveInLab(t, lab, dir, { PI_CONTROLLER_AGENT_HOST: ctl });
    if (!agentUrl) return t.fail('serve did not open its agent endpoint');
    const admin = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    // REST from the controller's namespace is reached through the child; the token is made here.
    const tokenReply = await runChild<{ token: string }>(lab, 'fetch-json', {
      url: `${url}/api/v1/agents/join-tokens`,
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ node: 'pi-one' }),
    });
    if (!tokenReply.ok) return t.fail(tokenReply.error.message);
    const host = lab.hosts[0]!;
    const holder = readFileSync(join(lab.dir, 'hosts', host.id, 'holder.pid'), 'utf8').trim();
    const stateDir = join(tempDir(t), 'agent');
    // nsenter: the host's network, hostname and mount namespaces, as its sshd and avahi have them.
    const agent = spawn(
      'nsenter',
      [
        '-t',
        holder,
        '-n',
        '-u',
        '-m',
        process.execPath,
        MAIN,
        'agent',
        '--server',
        agentUrl,
        '--join-token',
        tokenReply.value.token,
        '--state-dir',
        stateDir,
        '--sim',
        '--advertise',
        '--health-root',
        host.root,
        '--log-level',
        'info',
      ],
      { env: { ...env, PI_CONTROLLER_STOP_WITH_PARENT: '1' }, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    t.teardown(() => void agent.kill('SIGKILL'));
    const advertising = await logLine(agent, 'advertising the agent over mDNS', scaled(60_000));
    t.equal(advertising['instance'], 'pi-one._pi-controller._tcp.local');

    const browse = async () => {
      const r = await runChild<MdnsHost[]>(lab, 'browse', { interfaceAddress: ctl, timeoutMs: scaled(2000) });
      if (!r.ok) throw new Error(r.error.message);
      return r.value;
    };

    t.test('discovery finds the agent with node, model, SoC, version and arch; avahi still answers for the host', async (t) => {
      const hosts = await browse();
      const mine = hosts.find((h) => h.services.some((s) => s.type === '_pi-controller._tcp'));
      t.ok(mine, 'an instance of _pi-controller._tcp was found');
      if (!mine) return;
      t.equal(mine.hostname, host.hostname, 'SRV target: the host name of the host it runs on');
      t.same(mine.addresses, [host.address], "the host's lab address");
      const svc = mine.services.find((s) => s.type === '_pi-controller._tcp')!;
      t.equal(svc.instance, 'pi-one');
      t.equal(svc.port, 0, 'the agent listens on no port');
      t.same(svc.txt, {
        node: 'pi-one',
        model: 'Raspberry Pi Zero 2 W Rev 1.0',
        soc: 'bcm2711',
        version: JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')).version,
        arch: process.arch,
        sim: '1',
      });
      t.same(
        mine.services.map((s) => s.type).sort(),
        ['_pi-controller._tcp', '_ssh._tcp', '_workstation._tcp'],
        "avahi's services of the same host",
      );
      t.equal(mine.mac, host.mac, "avahi's workstation record still gives the MAC");
      const other = hosts.find((h) => h.hostname === lab.hosts[1]!.hostname);
      t.same(other?.services.map((s) => s.type).sort(), ['_ssh._tcp', '_workstation._tcp'], 'a host without an agent advertises none');
    });

    t.test('a stopped agent no longer answers: the instance is gone, the host stays', async (t) => {
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
      const hosts = await browse();
      const h = hosts.find((x) => x.hostname === host.hostname);
      t.ok(h, 'the host is still found through avahi');
      t.same(h?.services.map((s) => s.type).sort(), ['_ssh._tcp', '_workstation._tcp']);
    });
  });
}
