/**
 * A status written by someone else is corrected: the reconciler compares what it computes with
 * the status the object has (from the watch), not with what it wrote last. Real kube-apiserver
 * 1.20.2, real kubectl (`patch --subresource=status`, `wait --for=condition=Ready`).
 */
import t from 'tap';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler } from '../../src/cluster/reconciler.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openStore } from '../../src/store/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';

const skip = k8sUnavailable();
t.setTimeout(250_000);

const FORGED = JSON.stringify({
  status: {
    phase: 'Ready',
    message: 'forged',
    conditions: [{ type: 'Ready', status: 'True', reason: 'Applied', message: 'forged', lastTransitionTime: '2026-01-01T00:00:00Z' }],
  },
});

/** The Ready condition of a GPIOPin, read with kubectl. */
async function ready(k: K8sCluster, name: string): Promise<{ status?: string; reason?: string }> {
  const r = await k.kubectl(['get', 'gpiopin', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")]}']);
  return r.stdout ? (JSON.parse(r.stdout) as { status?: string; reason?: string }) : {};
}

async function untilReason(k: K8sCluster, name: string, reason: string, ms = 20_000): Promise<{ status?: string; reason?: string }> {
  const end = Date.now() + ms;
  for (;;) {
    const c = await ready(k, name);
    if (c.reason === reason || Date.now() > end) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('a forged status', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const k = await startK8s(t);
  const store = openStore({ file: join(tempDir(t), 'state.sqlite') });
  t.teardown(() => store.close());
  store.nodes.create({ name: 'pi-here' }, 'ready');
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store,
    bus: new EventBus(),
    agents: undefined,
    log: silentLogger(),
    statusPollMs: 20,
    registerNodes: false,
  });
  t.teardown(() => rec.stop());
  await rec.start();

  for (const [name, node, reason] of [
    ['nowhere', 'pi-nowhere', 'NodeNotFound'],
    ['offline', 'pi-here', 'AgentOffline'],
  ] as const) {
    t.test(`Ready=True written over ${reason} is set back to ${reason}`, async (t) => {
      const doc = `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: ${name}}\nspec: {nodeName: ${node}, pin: 5, mode: input}\n`;
      t.equal((await k.kubectl(['apply', '-f', '-'], doc)).status, 0);
      t.match(await untilReason(k, name, reason), { status: 'False', reason }, 'the reconciler wrote its status');
      await rec.idle();

      const p = await k.kubectl(['patch', 'gpiopin', name, '--subresource=status', '--type=merge', '-p', FORGED]);
      t.equal(p.status, 0, `kubectl patch --subresource=status: ${p.stderr}`);
      t.match(await untilReason(k, name, reason), { status: 'False', reason }, 'corrected');
      const w = await k.kubectl(['wait', '--for=condition=Ready', '--timeout=3s', `gpiopin/${name}`]);
      t.not(w.status, 0, 'kubectl wait --for=condition=Ready does not succeed');

      // Twice: the second forgery is not mistaken for the reconciler's own last write either.
      const p2 = await k.kubectl(['patch', 'gpiopin', name, '--subresource=status', '--type=merge', '-p', FORGED]);
      t.equal(p2.status, 0, p2.stderr);
      t.match(await untilReason(k, name, reason), { status: 'False', reason }, 'corrected again');
      await k.kubectl(['delete', 'gpiopin', name, '--wait=true', '--timeout=30s']);
    });
  }
});
