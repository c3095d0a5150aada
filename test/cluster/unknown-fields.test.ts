/**
 * Unknown spec fields against a real kube-apiserver 1.20.2 and the reconciler. Without strict
 * field validation (1.20 has none) a structural schema prunes fields it does not declare, so a
 * misspelt field (`valu: 1`) would vanish and the object turn Ready doing something else than
 * written. The CRDs keep unknown spec fields (x-kubernetes-preserve-unknown-fields), and our own
 * validation refuses them: Ready=False, reason InvalidSpec, the message naming the field, nothing
 * stored for the node.
 */
import t from 'tap';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler, hwNameFor } from '../../src/cluster/reconciler.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openStore } from '../../src/store/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';

const skip = k8sUnavailable();
t.setTimeout(200_000);

const BASE = '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default';

/** Waits until the object's status is for its current generation; returns the object. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an API object, inspected field by field
async function settled(k: K8sCluster, plural: string, name: string, ms = 20_000): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const o = (await k.api('GET', `${BASE}/${plural}/${name}`)).body;
    if (o?.status?.observedGeneration === o?.metadata?.generation) return o;
    if (Date.now() > end) throw new Error(`${plural}/${name}: no status for generation ${String(o?.metadata?.generation)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test(
  'unknown spec fields are kept by the API server and refused with InvalidSpec',
  { skip: skip ?? false, timeout: 180_000 },
  async (t) => {
    const k = await startK8s(t);
    const store = openStore({ file: join(tempDir(t), 'state.sqlite') });
    t.teardown(() => store.close());
    const node = store.nodes.create({ name: 'pi-u' }, 'ready');
    const kc = new KubeConfig();
    kc.loadFromFile(k.kubeconfig);
    const rec = new ClusterReconciler({
      kubeConfig: kc,
      store,
      bus: new EventBus(),
      agents: undefined,
      log: silentLogger(),
      statusPollMs: 20,
    });
    t.teardown(() => rec.stop());
    await rec.start();

    t.test('a misspelt GPIOPin field over the API', async (t) => {
      const r = await k.api('POST', `${BASE}/gpiopins`, {
        apiVersion: 'gpio.pi-controller.io/v1alpha1',
        kind: 'GPIOPin',
        metadata: { name: 'typo' },
        spec: { nodeName: 'pi-u', pin: 17, mode: 'output', valu: 1 },
      });
      t.equal(r.status, 201, 'accepted by the API server');
      t.equal(r.body.spec.valu, 1, 'kept as written, not pruned');
      const o = await settled(k, 'gpiopins', 'typo');
      t.match(o.status, {
        phase: 'Failed',
        conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: /\/spec\/valu: unknown field "valu"/ }],
      });
    });

    t.test('a misspelt field inside an I2CDevice register', async (t) => {
      const r = await k.api('POST', `${BASE}/i2cdevices`, {
        apiVersion: 'gpio.pi-controller.io/v1alpha1',
        kind: 'I2CDevice',
        metadata: { name: 'typo-reg' },
        spec: {
          nodeName: 'pi-u',
          bus: 1,
          address: 0x48,
          registers: [{ name: 'r', register: 0, type: 'u8', pollIntervalMs: 100, sclae: 2 }],
        },
      });
      t.equal(r.status, 201);
      t.equal(r.body.spec.registers[0].sclae, 2, 'kept inside the array item too');
      const o = await settled(k, 'i2cdevices', 'typo-reg');
      t.match(o.status.conditions[0], { reason: 'InvalidSpec', message: /\/spec\/registers\/0\/sclae: unknown field "sclae"/ });
    });

    t.test('a misspelt PWMController field through kubectl apply', async (t) => {
      const yaml =
        'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: PWMController\nmetadata: {name: typo-pwm}\nspec: {nodeName: pi-u, pin: 18, frequencyHz: 1000, dutyCycle: 0.5, enable: false}\n';
      const a = await k.kubectl(['apply', '-f', '-'], yaml);
      t.equal(a.status, 0, a.stderr);
      const o = await settled(k, 'pwmcontrollers', 'typo-pwm');
      t.match(o.status.conditions[0], { reason: 'InvalidSpec', message: /\/spec\/enable: unknown field "enable"/ });
      const d = await k.kubectl(['describe', 'pwmcontroller', 'typo-pwm']);
      t.match(d.stdout, /Enable:\s+false/, 'kubectl describe shows the field as written');
    });

    t.test('fixing the field makes the object valid', async (t) => {
      const r = await k.api('PUT', `${BASE}/gpiopins/typo`, {
        ...(await k.api('GET', `${BASE}/gpiopins/typo`)).body,
        spec: { nodeName: 'pi-u', pin: 17, mode: 'output', value: 1 },
      });
      t.equal(r.status, 200);
      const o = await settled(k, 'gpiopins', 'typo');
      t.match(o.status.conditions[0], { reason: /AgentOffline|Applying/ }, 'valid now; it waits for an agent (none here)');
      await rec.idle();
      t.match(store.hardware.require(node.id, 'gpio', hwNameFor('default', 'typo')).spec, { pin: 17, value: 1 });
    });

    t.test('nothing invalid reached the store', async (t) => {
      await rec.idle();
      t.same(store.hardware.list(node.id, 'i2c'), []);
      t.same(store.hardware.list(node.id, 'pwm'), []);
    });
  },
);
