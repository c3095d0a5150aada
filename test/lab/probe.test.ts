/**
 * The SSH capability probe against the lab's sshd and fake roots: model, SoC, memory, cgroups and the
 * rest for each pose; a host whose key changes is flagged and not probed. Needs root and the lab.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiscoveryResult } from '../../src/api/discovery.js';
import { labSkipReason, labUp, runChild } from '../support/lab.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('SSH capability probe in the lab', async (t) => {
    const lab = labUp(t, 5);
    const db = join(tempDir(t), 'probe.sqlite');
    const ctl = lab.controller.address;
    const d = await runChild(lab, 'discover', {
      db,
      run: { mdns: false, scan: { cidr: lab.subnet, localAddress: ctl, timeoutMs: scaled(1000), concurrency: 256 } },
    });
    t.ok(d.ok, 'discovered by scan');
    const probe = (i: number) =>
      runChild<DiscoveryResult>(lab, 'probe', {
        db,
        mac: lab.hosts[i]!.mac,
        login: { user: 'pi', identityFile: lab.clientKey, root: lab.hosts[i]!.root, timeoutMs: 20_000 },
      });

    const want = [
      {
        model: 'Raspberry Pi Zero 2 W Rev 1.0',
        soc: 'BCM2837',
        board: 512,
        mem: 429,
        arch: 'aarch64',
        cg: false,
        boot: 'sd',
        chips: 2,
        i2c: [1],
        k3s: false,
      },
      {
        model: 'Raspberry Pi 3 Model B Plus Rev 1.3',
        soc: 'BCM2837',
        board: 1024,
        mem: 922,
        arch: 'armv7l',
        cg: false,
        boot: 'usb',
        chips: 2,
        i2c: [1],
        k3s: false,
      },
      {
        model: 'Raspberry Pi 4 Model B Rev 1.5',
        soc: 'BCM2711',
        board: 8192,
        mem: 7812,
        arch: 'aarch64',
        cg: true,
        boot: 'sd',
        chips: 2,
        i2c: [1, 20, 21],
        k3s: false,
      },
      {
        model: 'Raspberry Pi 400 Rev 1.1',
        soc: 'BCM2711',
        board: 4096,
        mem: 3790,
        arch: 'aarch64',
        cg: true,
        boot: 'usb',
        chips: 2,
        i2c: [1, 20, 21],
        k3s: false,
      },
      {
        model: 'Raspberry Pi 5 Model B Rev 1.0',
        soc: 'BCM2712',
        board: 8192,
        mem: 8052,
        arch: 'aarch64',
        cg: true,
        boot: 'nvme',
        chips: 5,
        i2c: [1, 13, 14],
        k3s: true,
      },
    ];
    t.test('five poses probed with the right model, SoC, memory, cgroup state and the rest; the key is pinned', async (t) => {
      for (let i = 0; i < 5; i++) {
        const r = await probe(i);
        if (!r.ok) {
          t.fail(`${lab.hosts[i]!.id}: ${r.error.code} ${r.error.message}`);
          continue;
        }
        const c = r.value.capabilities!;
        const w = want[i]!;
        t.same(
          [c.model, c.soc, c.boardMemoryMb, c.memoryMb, c.cpus, c.arch, c.cgroupMemory, c.bootMedia, c.gpiochips.length, c.i2cBuses, c.k3s],
          [w.model, w.soc, w.board, w.mem, 4, w.arch, w.cg, w.boot, w.chips, w.i2c, w.k3s],
          lab.hosts[i]!.pose,
        );
        t.equal(c.swapMb, 100);
        t.equal(c.os, 'Debian GNU/Linux 12 (bookworm)');
        t.equal(c.warnings.length, w.boot === 'sd' ? 1 : 0, 'SD boot warns about etcd');
        t.equal(r.value.state, 'probed');
        t.equal(r.value.model, w.model);
        t.equal(r.value.hostKeyFingerprint, lab.hosts[i]!.hostKeyFingerprint, 'pinned on first contact');
      }
    });

    t.test('a host whose key changes is refused with HOST_KEY_MISMATCH, flagged, and its capabilities stay', async (t) => {
      const h = lab.hosts[2]!;
      const dir = join(lab.dir, 'hosts', h.id);
      execFileSync('rm', ['-f', join(dir, 'ssh_host_ed25519_key'), join(dir, 'ssh_host_ed25519_key.pub')]);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh_host_ed25519_key')]);
      process.kill(Number(readFileSync(join(dir, 'sshd.pid'), 'utf8').trim()), 'SIGHUP');
      await new Promise((r) => setTimeout(r, 1000));
      const r = await probe(2);
      t.equal(r.ok, false);
      if (r.ok) return;
      t.equal(r.error.code, 'HOST_KEY_MISMATCH');
      const rec = r.error.record as DiscoveryResult;
      t.same(rec.flags, ['HOST_KEY_MISMATCH']);
      t.equal(rec.hostKeyFingerprint, h.hostKeyFingerprint, 'the pinned key is kept');
      t.equal(rec.capabilities?.model, want[2]!.model, 'the earlier probe result stays');
    });
  });
}
