/**
 * The real daemon and CLI in the lab: `pi-controller serve` runs in the controller's namespace with
 * discovery configured by environment (interface, range, the dnsmasq lease file); `pi-controller
 * discover` talks to it over REST and the event stream. Needs root and scripts/setup/50-lab.sh.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ScanReport } from '../../src/api/discovery.js';
import { inNamespace, labSkipReason, labUp, runChild, serveInLab } from '../support/lab.js';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

// eslint-disable-next-line no-control-regex -- the test looks for control characters
const CONTROL_BUT_NL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const MAIN = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('daemon and CLI in the lab', async (t) => {
    const lab = labUp(t, 5);
    const dir = tempDir(t);
    const ctl = lab.controller.address;
    const { url, env, output } = await serveInLab(t, lab, dir, {
      PI_CONTROLLER_DISCOVERY_INTERFACE: ctl,
      PI_CONTROLLER_DISCOVERY_CIDR: lab.subnet,
      PI_CONTROLLER_DISCOVERY_LEASES: `dnsmasq:${lab.leaseFile}`,
    });
    const cli = (...args: string[]) =>
      inNamespace(
        lab.controller.ns,
        [process.execPath, MAIN, '--url', url, '--token-file', join(dir, 'admin-token'), ...args],
        60_000,
        env,
      );

    t.test('`discover --json` runs mDNS, the scan and the leases through the daemon: five Raspberry Pis', async (t) => {
      const r = await cli('discover', '--json');
      t.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout) as ScanReport;
      t.same(rep.errors, []);
      t.equal(rep.found, 5);
      t.same(rep.items.map((i) => i.mac).sort(), lab.hosts.map((h) => h.mac).sort());
      for (const i of rep.items) t.same(i.sources, ['mdns', 'scan', 'dhcp'], i.hostname ?? '');
    });

    t.test('`discover` with a /8 exits non-zero with CIDR_TOO_LARGE and stores nothing new', async (t) => {
      const r = await cli('discover', '--cidr', '10.0.0.0/8');
      t.not(r.code, 0);
      t.match(r.stderr, /CIDR_TOO_LARGE/);
    });

    t.test('hostile names from the network reach the terminal escaped, in the table, in JSON and in the log', async (t) => {
      const hub = lab.subnet.replace('.0/24', '.1');
      const evil = "x$(touch /tmp/pwned);`id`|'\u001b[2J\u001b]0;owned\u0007";
      rmSync('/tmp/pwned', { force: true });
      const adv = runChild<{ answered: number }>(
        lab,
        'advertise',
        { interfaceAddress: hub, instance: evil, host: 'evil\u001b[31m', txt: [`model=${evil}`], address: hub, ms: scaled(15_000) },
        { ns: lab.hub },
      );
      await new Promise((r) => setTimeout(r, 500));
      const human = await cli('discover', '--no-leases', '--timeout', '1500');
      const json = await cli('discover', '--no-leases', '--timeout', '1500', '--json');
      await adv;
      t.equal(human.code, 0, human.stderr);
      t.match(human.stdout, 'evil\\x1b[31m');
      t.notMatch(human.stdout, CONTROL_BUT_NL, 'no control character but newline in the table');
      t.notMatch(json.stdout, CONTROL_BUT_NL, 'none in the JSON either');
      const rep = JSON.parse(json.stdout) as ScanReport;
      t.equal(rep.items.find((i) => i.address === hub)?.services[0]?.instance, evil, 'the value itself is kept verbatim');
      t.notMatch(output(), CONTROL_BUT_NL, "none in the daemon's log");
      t.notOk(existsSync('/tmp/pwned'), 'nothing was run');
    });

    t.test('`discover --watch` prints live lines from the event stream until stopped', async (t) => {
      const w = spawn(
        'ip',
        [
          'netns',
          'exec',
          lab.controller.ns,
          process.execPath,
          MAIN,
          '--url',
          url,
          '--token-file',
          join(dir, 'admin-token'),
          'discover',
          '--watch',
          '--interval',
          '2',
          '--no-leases',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      w.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const gone = lab.hosts[3]!;
      const deadline = Date.now() + scaled(30_000);
      while (!/run finished/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      await inNamespace(gone.ns, ['ip', 'link', 'set', 'eth0', 'down']);
      const lostLine = new RegExp(` lost +${gone.address.replace(/\./g, '\\.')} +${gone.mac}`);
      while (!lostLine.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      w.kill('SIGINT');
      const code = await new Promise<number | null>((r) => w.on('close', r));
      t.equal(code, 0);
      t.match(out, /run finished: \d+ seen/);
      t.match(out, lostLine);
      t.notMatch(out, /changed +\d+\.\d+\.\d+\.1\d\d /, 'an unchanged machine prints nothing');
    });
  });
}
