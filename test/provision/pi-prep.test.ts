/**
 * Pi prep in the lab: cmdline.txt edited exactly once across two runs, swap off, the reboot
 * (test/lab/lab-reboot.sh plays firmware and kernel on the fake root) waited for by polling SSH, the
 * memory controller verified after it; a split cmdline.txt is diagnosed and left alone; a host whose
 * kernel ignores the flags fails with CGROUPS_NOT_ENABLED and the diagnosis. Needs root and the lab.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openSecretBox } from '../../src/certs/index.js';
import { JobRunner } from '../../src/provision/jobs.js';
import { PREPARE_KIND, prepareKind } from '../../src/provision/pi-prep.js';
import { labSkipReason, labUp } from '../support/lab.js';
import { labSock } from '../support/lab-ssh.js';
import { preparePiRoot } from '../support/lab-pi.js';
import { tempDir } from '../support/tmp.js';

const skip = labSkipReason();
if (skip) {
  console.log(`# skipping the lab tests: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.test('Pi prep in the lab', async (t) => {
    const lab = labUp(t, 5);
    const base = tempDir(t, 'pic-prep-');
    const store = openStore({ file: join(base, 'prep.sqlite') });
    t.teardown(() => store.close());
    const runner = new JobRunner({
      store,
      bus: new EventBus(),
      log: silentLogger(),
      kinds: [prepareKind()],
      secrets: openSecretBox(join(base, 'secrets')),
      transport: (host, port) => labSock(lab, host, port),
      retry: { attempts: 3, baseMs: 300, maxMs: 1_000 },
    });
    t.teardown(() => runner.stop());
    const prep = async (i: number) => {
      const h = lab.hosts[i]!;
      const job = runner.submit(PREPARE_KIND, {
        login: { host: h.address, user: 'pi', identityFile: lab.clientKey },
        params: { root: h.root, rebootTimeoutMs: 60_000 },
      });
      return { job: await runner.wait(job.id), steps: runner.steps(job.id) };
    };
    const file = (i: number, rel: string) => readFileSync(join(lab.hosts[i]!.root, rel), 'utf8');

    t.test('flags added exactly once across two runs; swap off; rebooted once; memory controller verified', async (t) => {
      preparePiRoot(lab, lab.hosts[0]!);
      const first = await prep(0);
      t.equal(first.job.state, 'succeeded', first.job.error ?? '');
      t.same(
        first.steps.map((s) => [s.name, s.state]),
        [
          ['cmdline', 'succeeded'],
          ['swap-off', 'succeeded'],
          ['reboot', 'succeeded'],
          ['verify-cgroups', 'skipped'],
        ],
      );
      const line = file(0, 'boot/firmware/cmdline.txt');
      t.equal(line.split('\n').length, 2, 'still one line');
      t.equal(line.match(/cgroup_memory=1/g)?.length, 1);
      t.equal(line.match(/cgroup_enable=memory/g)?.length, 1);
      t.match(file(0, 'proc/cgroups'), /^memory\t0\t1\t1$/m, 'the controller came up after the reboot');
      t.equal(file(0, 'proc/swaps').trim().split('\n').length, 1, 'no swap after the reboot');
      const bootId = file(0, 'proc/sys/kernel/random/boot_id');

      const second = await prep(0);
      t.equal(second.job.state, 'succeeded', second.job.error ?? '');
      t.same(
        second.steps.map((s) => s.state),
        ['skipped', 'skipped', 'skipped', 'skipped'],
      );
      t.equal(file(0, 'boot/firmware/cmdline.txt'), line, 'the second run changed nothing');
      t.equal(file(0, 'proc/sys/kernel/random/boot_id'), bootId, 'and did not reboot');
    });

    t.test('a split cmdline.txt gets a diagnosis, not an edit', async (t) => {
      const split = 'console=serial0,115200 console=tty1\nroot=/dev/sda2 rootfstype=ext4 rootwait\n';
      preparePiRoot(lab, lab.hosts[1]!, { cmdline: split });
      const r = await prep(1);
      t.equal(r.job.state, 'failed');
      t.match(r.job.error, /^CMDLINE_SPLIT: .*holds 2 lines.*only the first/);
      t.equal(file(1, 'boot/firmware/cmdline.txt'), split, 'untouched');
    });

    t.test('a host whose cgroups stay off after the reboot gets the diagnosis', async (t) => {
      const h = lab.hosts[4]!;
      t.equal(h.pose, '5');
      preparePiRoot(lab, h, {
        cmdline: 'console=serial0,115200 console=tty1 root=/dev/nvme0n1p2 rootfstype=ext4 rootwait\n',
        cgroupMemory: false,
        kernelIgnoresFlags: true,
      });
      const r = await prep(4);
      t.equal(r.job.state, 'failed');
      t.match(r.job.error, /^CGROUPS_NOT_ENABLED: .*booted with the flags.*Pi 5 kernel quirk/);
      t.same(
        r.steps.map((s) => [s.name, s.state]),
        [
          ['cmdline', 'succeeded'],
          ['swap-off', 'succeeded'],
          ['reboot', 'succeeded'],
          ['verify-cgroups', 'failed'],
        ],
      );
      t.equal(r.steps[2]!.attempts, 1, 'rebooted once, not in a loop');
    });
  });
}
