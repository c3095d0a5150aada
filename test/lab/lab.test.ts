/**
 * The lab itself: namespaces, DHCP from dnsmasq, sshd users, avahi, fake roots, and nothing changed in
 * the root namespace. Needs root and scripts/setup/50-lab.sh; skipped with the reason otherwise.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inNamespace, labSkipReason, labUp } from '../support/lab.js';

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  const rootState = () => ({
    links: execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).replace(/state \S+/g, ''),
    routes: execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' }),
    resolv: readFileSync('/etc/resolv.conf', 'utf8'),
  });
  const before = rootState();
  let prefix = '';
  t.test('lab', async (t) => {
    const lab = labUp(t, 5);
    prefix = lab.prefix;
    console.log(`# lab-up.sh took ${lab.upSeconds.toFixed(1)} s for 5 hosts`);
    const ssh = (host: string, user: string, cmd: string) =>
      inNamespace(lab.controller.ns, [
        'ssh',
        '-i',
        lab.clientKey,
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'ConnectTimeout=10',
        `${user}@${host}`,
        cmd,
      ]);

    t.test('five hosts with Raspberry Pi MACs, poses and DHCP addresses from the real lease file', async (t) => {
      t.same(
        lab.hosts.map((h) => h.pose),
        ['zero2w', '3bplus', '4b', '400', '5'],
      );
      const leases = readFileSync(lab.leaseFile, 'utf8');
      for (const h of lab.hosts) {
        t.match(h.mac, /^(b8:27:eb|dc:a6:32|e4:5f:01|d8:3a:dd|2c:cf:67|28:cd:c1):/);
        t.match(
          h.address,
          new RegExp(`^${lab.subnet.replace(/\.0\/24$/, '').replace(/\./g, '\\.')}\\.1\\d\\d$`),
          'an address from the pool',
        );
        t.match(leases, new RegExp(` ${h.mac} ${h.address.replace(/\./g, '\\.')} ${h.hostname} `), `${h.id} leased`);
      }
    });
    t.test('no namespace has a default route', async (t) => {
      for (const ns of [lab.hub, lab.controller.ns, ...lab.hosts.map((h) => h.ns)]) {
        const r = await inNamespace(ns, ['ip', 'route', 'show', 'default']);
        t.equal(r.stdout.trim(), '', ns);
      }
    });
    t.test('each host has its own hostname and sshd; pi has passwordless sudo, nosudo has none', async (t) => {
      const h = lab.hosts[2]!;
      const a = await ssh(h.address, 'pi', 'hostname; sudo -n true && echo SUDO-OK');
      t.equal(a.code, 0, a.stderr);
      t.match(a.stdout, new RegExp(`^${h.hostname}\\nSUDO-OK`));
      const b = await ssh(h.address, 'nosudo', 'hostname; sudo -n true && echo SUDO-OK');
      t.match(b.stdout, new RegExp(`^${h.hostname}\\n$`));
      t.match(b.stderr, /password is required/);
    });
    t.test('each fake root poses as its model', async (t) => {
      const model = (i: number) => readFileSync(`${lab.hosts[i]!.root}proc/device-tree/model`, 'utf8');
      t.equal(model(0), 'Raspberry Pi Zero 2 W Rev 1.0\0');
      t.equal(model(4), 'Raspberry Pi 5 Model B Rev 1.0\0');
      t.match(readFileSync(`${lab.hosts[4]!.root}proc/device-tree/compatible`, 'utf8'), 'brcm,bcm2712');
      t.match(readFileSync(`${lab.hosts[1]!.root}proc/cpuinfo`, 'utf8'), /Revision\t: a020d3/);
    });
  });
  t.test('the root namespace is as it was, and lab-down leaves no namespace behind', async (t) => {
    t.same(rootState(), before);
    t.not(prefix, '', 'the lab came up');
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => prefix !== '' && l.startsWith(`${prefix}-`));
    t.same(left, []);
  });
}
