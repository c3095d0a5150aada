/** Pi prep's pure helpers: the cmdline.txt edit, /proc/cgroups and /proc/swaps parsing (no lab). */
import t from 'tap';
import { activeSwaps, cmdlineLines, hasCgroupFlags, memoryControllerOn, withCgroupFlags } from '../../src/provision/pi-prep.js';

t.test('cmdline helpers', async (t) => {
  const line = 'console=serial0,115200 root=/dev/mmcblk0p2 rootwait';
  t.equal(withCgroupFlags(line), `${line} cgroup_memory=1 cgroup_enable=memory`);
  t.equal(withCgroupFlags(withCgroupFlags(line)), withCgroupFlags(line), 'idempotent');
  t.equal(withCgroupFlags(`${line} cgroup_disable=memory`), `${line} cgroup_memory=1 cgroup_enable=memory`, 'a disable is removed');
  t.notOk(hasCgroupFlags(`${line} cgroup_memory=1 cgroup_enable=memory cgroup_disable=memory`));
  t.same(cmdlineLines('a b\n\nc\n'), ['a b', 'c']);
});

t.test('proc parsers', async (t) => {
  const cg = '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nmemory\t0\t1\t0\n';
  t.notOk(memoryControllerOn(cg));
  t.ok(memoryControllerOn(cg.replace('memory\t0\t1\t0', 'memory\t0\t1\t1')));
  t.notOk(memoryControllerOn('#subsys_name\thierarchy\tnum_cgroups\tenabled\n'), 'no memory line: off');
  const header = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';
  t.same(activeSwaps(header), []);
  t.same(activeSwaps(header + '/var/swap file 102396 0 -2\n/dev/zram0 partition 1000 0 100\n'), ['/var/swap', '/dev/zram0']);
});
