/**
 * Store names of custom resources: two objects never share one stored object, and objects
 * stored under the older, non-injective names are taken over (renamed) when the reconciler
 * starts, against a real kube-apiserver 1.20.2 and a real SQLite file.
 */
import t from 'tap';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler, hwNameFor, legacyHwNameFor } from '../../src/cluster/reconciler.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';

const skip = k8sUnavailable();
t.setTimeout(250_000);

const BASE = '/apis/gpio.pi-controller.io/v1alpha1';

t.test('store names', async (t) => {
  t.test('are injective where the readable parts coincide', async (t) => {
    t.not(hwNameFor('default', 'coll.x'), hwNameFor('default', 'coll-x'));
    t.not(hwNameFor('a-b', 'c'), hwNameFor('a', 'b-c'));
    t.not(hwNameFor('default', `${'x'.repeat(60)}.a`), hwNameFor('default', `${'x'.repeat(60)}-a`));
    // The old names of these pairs were equal: that is the defect.
    t.equal(legacyHwNameFor('default', 'coll.x'), legacyHwNameFor('default', 'coll-x'));
    t.equal(legacyHwNameFor('a-b', 'c'), legacyHwNameFor('a', 'b-c'));
  });
  t.test('are DNS-1123 labels of at most 63 characters, stable, prefixed k8s-', async (t) => {
    for (const [ns, n] of [
      ['default', 'led'],
      ['kube-system', 'a.b.c'],
      ['n'.repeat(63), 'm'.repeat(253)],
    ] as const) {
      const h = hwNameFor(ns, n);
      t.match(h, /^k8s-[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, h);
      t.ok(h.length <= 63, `${h.length} characters`);
      t.equal(hwNameFor(ns, n), h, 'stable');
    }
  });
});

async function create(k: K8sCluster, ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  const r = await k.api('POST', `${BASE}/namespaces/${ns}/gpiopins`, {
    apiVersion: 'gpio.pi-controller.io/v1alpha1',
    kind: 'GPIOPin',
    metadata: { name, namespace: ns },
    spec,
  });
  if (r.status !== 201) throw new Error(`create ${ns}/${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function namespace(k: K8sCluster, ns: string): Promise<void> {
  const r = await k.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`namespace ${ns}: ${r.status}`);
}

/** The stored GPIO objects of a node as name -> pin. */
function pins(store: Store, nodeId: string): Record<string, number> {
  return Object.fromEntries(store.hardware.list(nodeId, 'gpio').map((o) => [o.name, o.spec.pin]));
}

async function until(cond: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function reconciler(t: { teardown(fn: () => unknown): void }, k: K8sCluster, store: Store): ClusterReconciler {
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
  return rec;
}

t.test('objects whose old names coincide', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const k = await startK8s(t);
  for (const ns of ['a-b', 'a']) await namespace(k, ns);

  t.test('each keeps its own stored object and pin; deleting one leaves the other', async (t) => {
    const store = openStore({ file: join(tempDir(t), 'state.sqlite') });
    t.teardown(() => store.close());
    const node = store.nodes.create({ name: 'pi-n' }, 'ready');
    const rec = reconciler(t, k, store);
    await rec.start();
    await create(k, 'default', 'coll.x', { nodeName: 'pi-n', pin: 5, mode: 'output', value: 1 });
    await create(k, 'default', 'coll-x', { nodeName: 'pi-n', pin: 6, mode: 'output', value: 1 });
    await create(k, 'a-b', 'c', { nodeName: 'pi-n', pin: 7, mode: 'output', value: 1 });
    await create(k, 'a', 'b-c', { nodeName: 'pi-n', pin: 8, mode: 'output', value: 1 });
    const want = {
      [hwNameFor('default', 'coll.x')]: 5,
      [hwNameFor('default', 'coll-x')]: 6,
      [hwNameFor('a-b', 'c')]: 7,
      [hwNameFor('a', 'b-c')]: 8,
    };
    await until(() => Object.keys(pins(store, node.id)).length >= 4);
    await rec.idle();
    t.same(pins(store, node.id), want, 'four stored objects, each with its own pin');

    for (const [ns, name] of [
      ['default', 'coll.x'],
      ['a-b', 'c'],
    ] as const) {
      const r = await k.kubectl(['delete', 'gpiopin', name, '-n', ns, '--wait=true', '--timeout=30s']);
      t.equal(r.status, 0, r.stderr);
    }
    await until(() => Object.keys(pins(store, node.id)).length <= 2);
    await rec.idle();
    t.same(
      pins(store, node.id),
      { [hwNameFor('default', 'coll-x')]: 6, [hwNameFor('a', 'b-c')]: 8 },
      'the deleted ones released; the others still hold their pins',
    );
    const left = await k.api('GET', `${BASE}/namespaces/default/gpiopins/coll-x`);
    t.equal(left.status, 200, 'coll-x still exists');
    for (const [ns, name] of [
      ['default', 'coll-x'],
      ['a', 'b-c'],
    ] as const)
      await k.kubectl(['delete', 'gpiopin', name, '-n', ns, '--wait=true', '--timeout=30s']);
  });

  t.test('a store written with the old names is migrated at start', async (t) => {
    const file = join(tempDir(t), 'state.sqlite');
    const store = openStore({ file });
    t.teardown(() => store.close());
    const node = store.nodes.create({ name: 'pi-m' }, 'ready');
    await create(k, 'default', 'coll.x', { nodeName: 'pi-m', pin: 5, mode: 'output', value: 1 });
    await create(k, 'default', 'coll-x', { nodeName: 'pi-m', pin: 6, mode: 'output', value: 1 });
    await create(k, 'default', 'led', { nodeName: 'pi-m', pin: 20, mode: 'output', value: 1 });
    // The spec as an older release stored it: the object's spec (with the schema's defaults) without nodeName.
    const stored = async (name: string) => {
      const { nodeName, ...rest } = (await k.api('GET', `${BASE}/namespaces/default/gpiopins/${name}`)).body.spec;
      t.equal(nodeName, 'pi-m');
      return rest;
    };
    const spec = (pin: number) => ({ pin, mode: 'output' as const, value: 1 as const });
    // What an older release left: one row for the colliding pair (the last writer, coll-x on
    // pin 6; pin 5 was driven with no owner), one for an ordinary object (twice changed, so
    // generation 3), and one whose custom resource is gone.
    store.hardware.create(node.id, 'gpio', legacyHwNameFor('default', 'coll-x'), await stored('coll-x'));
    store.hardware.create(node.id, 'gpio', legacyHwNameFor('default', 'led'), spec(20));
    store.hardware.replace(node.id, 'gpio', legacyHwNameFor('default', 'led'), { ...spec(20), value: 0 });
    const led = store.hardware.replace(node.id, 'gpio', legacyHwNameFor('default', 'led'), await stored('led'));
    store.hardware.create(node.id, 'gpio', legacyHwNameFor('default', 'gone'), spec(21));
    t.equal(led.generation, 3);
    const collOld = store.hardware.require(node.id, 'gpio', legacyHwNameFor('default', 'coll-x'));

    const rec = reconciler(t, k, store);
    await rec.start();
    await until(
      () => Object.keys(pins(store, node.id)).length === 3 && store.hardware.list(node.id, 'gpio').every((o) => !o.name.endsWith('gone')),
    );
    await rec.idle();
    t.same(
      pins(store, node.id),
      { [hwNameFor('default', 'coll.x')]: 5, [hwNameFor('default', 'coll-x')]: 6, [hwNameFor('default', 'led')]: 20 },
      'every object under its new name, each with its own pin; the orphan released',
    );
    const ledNow = store.hardware.require(node.id, 'gpio', hwNameFor('default', 'led'));
    t.equal(ledNow.id, led.id, 'the same stored object, renamed');
    t.equal(ledNow.generation, 3, 'its generation kept (nothing to apply again)');
    t.equal(
      store.hardware.require(node.id, 'gpio', hwNameFor('default', 'coll-x')).id,
      collOld.id,
      "the pair's row went to the object whose spec it holds",
    );
    for (const name of ['coll.x', 'coll-x', 'led']) await k.kubectl(['delete', 'gpiopin', name, '--wait=true', '--timeout=30s']);
  });
});
