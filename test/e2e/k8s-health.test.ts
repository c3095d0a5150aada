/**
 * Pi health as Node conditions and taints, on a real kube-apiserver 1.20.2 with real kubectl:
 * agents (behavioural BCM2711 model) whose /sys fixture the test rewrites as the firmware would
 * (get_throttled bits, thermal_zone0), and the reconciler writing `PiUnderVoltage`, `PiThrottled`,
 * `PiSocHot` and the NoSchedule taints. Two nodes: one the control plane registers (no kubelet),
 * and one that exists before it, with a condition of its own, standing in for a node a kubelet
 * registered: its own condition must survive. Not covered here: a Node a real kubelet keeps
 * updating at the same time (that needs the provisioning lab's kubelets).
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler } from '../../src/cluster/reconciler.js';
import { silentLogger } from '../../src/log/index.js';
import { writeSimSysFixture } from '../../agent/health.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';
import { newAgent, startRig } from '../agent/rig.js';

const skip = k8sUnavailable();
t.setTimeout(scaled(250_000));

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}
interface NodeObj {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { taints?: { key: string; value?: string; effect: string }[] };
  status: { conditions?: Cond[] };
}

async function until(k: K8sCluster, name: string, ok: (n: NodeObj) => boolean, ms = 30_000): Promise<NodeObj> {
  const end = Date.now() + scaled(ms);
  for (;;) {
    const n = (await k.api('GET', `/api/v1/nodes/${name}`)).body as NodeObj;
    if (ok(n) || Date.now() > end) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cond = (n: NodeObj, type: string) => (n.status?.conditions ?? []).find((c) => c.type === type);
const taintKeys = (n: NodeObj) => (n.spec?.taints ?? []).map((x) => `${x.key}:${x.effect}`).sort();
const healthTaints = (n: NodeObj) => taintKeys(n).filter((x) => x.includes('under-voltage') || x.includes('soc-hot'));

/** Writes the firmware's files as a Pi would show them: get_throttled and the SoC temperature in m°C. */
function firmware(root: string, throttled: number, milliC: number): void {
  writeFileSync(join(root, 'sys/devices/platform/soc/soc:firmware/get_throttled'), `0x${throttled.toString(16)}\n`);
  writeFileSync(join(root, 'sys/class/thermal/thermal_zone0/temp'), `${milliC}\n`);
}

t.test('Pi health as Node conditions and taints', { skip: skip ?? false }, async (t) => {
  const k = await startK8s(t);
  // A node that exists before the control plane writes to it, with a condition of its own.
  const created = await k.api('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'pi-kl' } });
  t.equal(created.status, 201, 'the stand-in kubelet node is created');
  const own = await k.api(
    'PATCH',
    '/api/v1/nodes/pi-kl/status',
    {
      status: {
        conditions: [{ type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'from the kubelet' }],
      },
    },
    'application/strategic-merge-patch+json',
  );
  t.equal(own.status, 200);

  const rig = await startRig(t);
  const roots = { 'pi-h': tempDir(t, 'pic-health-'), 'pi-kl': tempDir(t, 'pic-health-') };
  for (const r of Object.values(roots)) writeSimSysFixture(r);
  await newAgent(t, rig, 'pi-h', { agent: { healthRoot: roots['pi-h'], healthIntervalMs: 200 } });
  await newAgent(t, rig, 'pi-kl', { agent: { healthRoot: roots['pi-kl'], healthIntervalMs: 200 } });
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store: rig.srv.store,
    bus: rig.bus,
    agents: rig.hub,
    log: silentLogger(),
    statusPollMs: 20,
    nodeHeartbeatMs: 300,
    piHealth: { hotC: 80 },
  });
  t.teardown(() => rec.stop());
  await rec.start();

  for (const name of ['pi-h', 'pi-kl'] as const) {
    t.test(`${name}: normal, then under-voltage, throttled and hot, then normal again`, async (t) => {
      const normal = await until(k, name, (n) => cond(n, 'PiSocHot')?.status === 'False');
      t.match(cond(normal, 'PiUnderVoltage'), { status: 'False', reason: 'VoltageNormal' });
      t.match(cond(normal, 'PiThrottled'), { status: 'False', reason: 'NotThrottled', message: /SoC 47\.2 °C/ });
      t.match(cond(normal, 'PiSocHot'), { status: 'False', reason: 'SocTemperatureNormal' });
      t.same(healthTaints(normal), [], 'no health taint while healthy');
      const since = cond(normal, 'PiSocHot')!.lastTransitionTime;

      // Condition times have whole seconds: the change comes in a later second than `since`.
      await new Promise((r) => setTimeout(r, 1100));
      // Under-voltage now (bit 0), throttled now (bit 2), both also since boot (16, 18); 85.3 °C.
      firmware(roots[name], 0x50005, 85300);
      const bad = await until(k, name, (n) => cond(n, 'PiSocHot')?.status === 'True' && healthTaints(n).length === 2);
      t.match(cond(bad, 'PiUnderVoltage'), { status: 'True', reason: 'UnderVoltage', message: /power supply/ });
      t.match(cond(bad, 'PiThrottled'), { status: 'True', reason: 'Throttled', message: /SoC 85\.3 °C/ });
      t.match(cond(bad, 'PiSocHot'), { status: 'True', reason: 'SocHot', message: /at or above 80 °C/ });
      t.ok(taintKeys(bad).includes('pi-controller.io/under-voltage:NoSchedule'), `taints: ${taintKeys(bad).join(' ')}`);
      t.ok(taintKeys(bad).includes('pi-controller.io/soc-hot:NoSchedule'));
      const d = await k.kubectl(['describe', 'node', name]);
      t.match(d.stdout, /PiUnderVoltage\s+True/, 'kubectl describe shows it');

      // Cleared now; the since-boot bits stay (as on a Pi until it reboots).
      firmware(roots[name], 0x50000, 51000);
      const ok = await until(k, name, (n) => cond(n, 'PiSocHot')?.status === 'False' && healthTaints(n).length === 0);
      t.match(cond(ok, 'PiUnderVoltage'), { status: 'False', reason: 'VoltageNormal', message: /has occurred since boot/ });
      t.match(cond(ok, 'PiThrottled'), { status: 'False', reason: 'NotThrottled' });
      t.same(healthTaints(ok), [], 'health taints removed');
      t.not(cond(bad, 'PiSocHot')!.lastTransitionTime, since, 'the transition to True moved lastTransitionTime');
      if (name === 'pi-kl') {
        t.match(cond(ok, 'MemoryPressure'), { status: 'False', reason: 'KubeletHasSufficientMemory' }, "the node's own condition is kept");
        t.notOk(ok.metadata.annotations?.['pi-controller.io/kubelet'], 'not marked as having no kubelet');
        t.equal(cond(ok, 'Ready'), undefined, 'no Ready condition written for a node the control plane did not register');
      } else {
        t.ok(taintKeys(ok).includes('pi-controller.io/no-kubelet:NoSchedule'), 'the no-kubelet taint stays');
        t.match(cond(ok, 'Ready'), { status: 'False', reason: 'NoKubelet' });
      }
    });
  }
});
