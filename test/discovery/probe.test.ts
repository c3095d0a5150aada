import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/tmp.js';
import { fingerprint, parseProbe, probeCommand } from '../../src/discovery/probe.js';

t.test('probe command', async (t) => {
  t.test('is fixed: the root is the only variable part and must be a plain absolute directory', async (t) => {
    t.match(probeCommand(), "< '/proc/device-tree/model'");
    t.match(probeCommand('/tmp/lab/hosts/h1/root/'), "< '/tmp/lab/hosts/h1/root/proc/cgroups'");
    for (const bad of ['relative/', '/x', "/x'; reboot; '/", '/a b/', '/$(id)/', '/x/../'.replace('..', '..;')])
      t.throws(() => probeCommand(bad), { code: 'PROBE_ROOT_INVALID' }, bad);
  });
});

t.test('parseProbe', async (t) => {
  const out = [
    '@@@ proc/device-tree/model',
    'Raspberry Pi 4 Model B Rev 1.5',
    '@@@ proc/device-tree/compatible',
    'raspberrypi,4-model-b',
    'brcm,bcm2711',
    '@@@ proc/cpuinfo',
    'processor\t: 0',
    'processor\t: 1',
    'Revision\t: d03115',
    '@@@ proc/meminfo',
    'MemTotal:        7999000 kB',
    '@@@ proc/swaps',
    'Filename\tType\tSize\tUsed\tPriority',
    '/var/swap file 204800 0 -2',
    '@@@ proc/cgroups',
    '#subsys_name\thierarchy\tnum_cgroups\tenabled',
    'memory\t0\t1\t0',
    '@@@ boot/firmware/cmdline.txt',
    'console=tty1 root=PARTUUID=1234-02 rootwait',
    '@@@ proc/sys/kernel/arch',
    '@@@ uname',
    'aarch64',
    '@@@ dev',
    'gpiochip0',
    'i2c-20',
    'i2c-1',
    '@@@ k3s',
    '@@@ end',
  ].join('\n');
  t.test('reads each field; SoC from the device tree, board memory from the revision code', async (t) => {
    const c = parseProbe(out);
    t.equal(c.model, 'Raspberry Pi 4 Model B Rev 1.5');
    t.equal(c.soc, 'BCM2711');
    t.equal(c.boardMemoryMb, 8192);
    t.equal(c.memoryMb, 7812);
    t.equal(c.cpus, 2);
    t.equal(c.arch, 'aarch64', 'uname when the arch file is empty');
    t.equal(c.cgroupMemory, false);
    t.equal(c.swapMb, 200);
    t.equal(c.bootMedia, 'unknown', 'a PARTUUID does not say the medium');
    t.same(c.i2cBuses, [1, 20]);
    t.same(c.gpiochips, ['gpiochip0']);
    t.equal(c.k3s, false);
  });
  t.test('output with shell text in it is only data', async (t) => {
    const c = parseProbe('@@@ proc/device-tree/model\n$(reboot)`id`\u001b[2J\n@@@ end\n');
    t.equal(c.model, '$(reboot)`id`\u001b[2J');
    t.equal(c.soc, null);
    t.equal(parseProbe('').cpus, 0);
  });
  t.test('fingerprints an OpenSSH key as ssh-keygen does', async (t) => {
    const key = join(tempDir(t), 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const blob = readFileSync(`${key}.pub`, 'utf8').split(' ')[1]!;
    const want = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1];
    t.equal(fingerprint(blob), want);
  });
});
