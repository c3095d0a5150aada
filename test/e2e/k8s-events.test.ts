/**
 * Kubernetes Events on the custom resources: `kubectl describe` shows applied, refused with its
 * reason, and agent offline, and a burst of spec changes makes no storm of events. A real
 * kube-apiserver 1.20.2, the control plane with the cluster reconciler, and an agent over the
 * behavioural BCM2711 model.
 */
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler } from '../../src/cluster/reconciler.js';
import { TokenBucket } from '../../src/cluster/events.js';
import { silentLogger } from '../../src/log/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { newAgent, startRig } from '../agent/rig.js';

const skip = k8sUnavailable();
t.setTimeout(250_000);

const BASE = '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default';

interface KEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  involvedObject: { kind: string; name: string; uid: string };
  source: { component: string };
}

async function events(k: K8sCluster, name: string): Promise<KEvent[]> {
  const r = await k.api('GET', `/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=${name}`);
  return ((r.body?.items ?? []) as KEvent[]).sort((a, b) => (a.reason < b.reason ? -1 : 1));
}

async function untilEvent(k: K8sCluster, name: string, reason: string, ms = 20_000): Promise<KEvent | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const e = (await events(k, name)).find((x) => x.reason === reason);
    if (e || Date.now() > end) return e;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function untilReason(k: K8sCluster, name: string, reason: string, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    const o = (await k.api('GET', `${BASE}/gpiopins/${name}`)).body;
    const c = o?.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
    if (c?.reason === reason && o.status.observedGeneration === o.metadata.generation) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('the event rate limit', async (t) => {
  const b = new TokenBucket(3, 1000, 0);
  t.same([b.take(0), b.take(1), b.take(2), b.take(3)], [true, true, true, false], 'a burst of 3');
  t.equal(b.take(999), false, 'nothing back before the refill time');
  t.equal(b.take(1000), true, 'one back after it');
  t.equal(b.take(1001), false);
  t.same([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true, false], 'never more than the burst');
});

t.test('Events on the objects', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const k = await startK8s(t);
  const rig = await startRig(t);
  const agent = await newAgent(t, rig, 'pi-e');
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store: rig.srv.store,
    bus: rig.bus,
    agents: rig.hub,
    log: silentLogger(),
    statusPollMs: 20,
    minReportIntervalMs: 200,
  });
  t.teardown(() => rec.stop());
  await rec.start();
  const doc = (name: string, spec: string) =>
    `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: ${name}}\nspec: {${spec}}\n`;

  t.test('applied, refused with its reason, agent offline: kubectl describe shows the history', async (t) => {
    t.equal((await k.kubectl(['apply', '-f', '-'], doc('lamp', 'nodeName: pi-e, pin: 22, mode: output, value: 1'))).status, 0);
    const applied = await untilEvent(k, 'lamp', 'Applied');
    t.match(applied, {
      type: 'Normal',
      message: 'generation 1 applied on node pi-e',
      involvedObject: { kind: 'GPIOPin', name: 'lamp' },
      source: { component: 'pi-controller' },
    });

    await k.kubectl(['patch', 'gpiopin', 'lamp', '--type=merge', '-p', '{"spec":{"mode":"input"}}']);
    t.match(await untilEvent(k, 'lamp', 'InvalidSpec'), { type: 'Warning', message: /value is only meaningful for an output/ });
    await k.kubectl(['patch', 'gpiopin', 'lamp', '--type=merge', '-p', '{"spec":{"mode":"output","pin":1}}']);
    t.match(await untilEvent(k, 'lamp', 'PinReserved'), { type: 'Warning', message: /GPIO1 is reserved/ });
    await k.kubectl(['patch', 'gpiopin', 'lamp', '--type=merge', '-p', '{"spec":{"pin":22,"value":0}}']);
    t.ok(await untilReason(k, 'lamp', 'Applied'), 'Applied again');

    await agent.agent.stop();
    agent.chip.close();
    t.match(await untilEvent(k, 'lamp', 'AgentOffline'), { type: 'Warning', message: /agent of node pi-e is not connected/ });

    const d = await k.kubectl(['describe', 'gpiopin', 'lamp']);
    t.equal(d.status, 0, d.stderr);
    const section = d.stdout.slice(d.stdout.indexOf('Events:'));
    for (const reason of ['Applied', 'InvalidSpec', 'PinReserved', 'AgentOffline']) t.match(section, new RegExp(`\\b${reason}\\b`), reason);
    t.match(section, /Warning\s+AgentOffline\s+.*pi-controller/);
  });

  t.test('200 spec changes that all end Applied make no storm of events', async (t) => {
    const fresh = await newAgent(t, rig, 'pi-f');
    t.ok(fresh, 'a second node with an agent');
    t.equal((await k.kubectl(['apply', '-f', '-'], doc('blink', 'nodeName: pi-f, pin: 23, mode: output, value: 0'))).status, 0);
    t.ok(await untilReason(k, 'blink', 'Applied'));
    for (let i = 1; i <= 200; i++) {
      const r = await k.api('PATCH', `${BASE}/gpiopins/blink`, { spec: { value: i % 2 } }, 'application/merge-patch+json');
      t.equal(r.status, 200, `change ${i}`, { diagnostic: r.status !== 200 });
    }
    t.ok(await untilReason(k, 'blink', 'Applied', 60_000), 'Applied at the last generation');
    await rec.idle();
    await rec.flushEvents();
    const ev = await events(k, 'blink');
    t.ok(ev.length <= 10, `${ev.length} event object(s) for 200 changes: ${ev.map((e) => `${e.reason}x${e.count}`).join(', ')}`);
    t.ok(ev.reduce((n, e) => n + e.count, 0) <= 10, 'and few occurrences in them (the first Applied; a late report may add one more)');
  });
});
