/**
 * Unknown spec fields against a real kube-apiserver 1.20.2, the machine's kubectl and the
 * reconciler. 1.20 has no strict field validation and prunes what a structural schema does not
 * declare, so a misspelt field (`valu: 1`) would be dropped and the object turn Ready doing
 * something else than written. What catches it:
 * - kubectl's own validation against the published OpenAPI refuses the apply, naming the field;
 * - past it (`--validate=false`, or before the API server publishes a new CRD's OpenAPI), the
 *   reconciler reads what kubectl apply sent from the last-applied-configuration annotation: the
 *   object gets Ready=False, reason InvalidSpec, naming the field, and nothing is stored;
 * - an object written without kubectl apply carries no annotation: its unknown field is dropped
 *   unseen (documented).
 * Keeping unknown fields in the schema instead (x-kubernetes-preserve-unknown-fields) was tried:
 * a 1.20 API server then publishes `spec` without its properties, and kubectl explain shows none.
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

const doc = (kind: string, name: string, spec: string) =>
  `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: {${spec}}\n`;

t.test(
  'unknown spec fields: refused by kubectl, else InvalidSpec from the last-applied annotation',
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

    // kubectl validates against the OpenAPI the server publishes a few seconds after the CRD.
    for (let i = 0; i < 60 && (await k.kubectl(['explain', 'pwmcontroller.spec.enabled'])).status !== 0; i++)
      await new Promise((r) => setTimeout(r, 500));

    t.test('kubectl apply refuses a misspelt field itself, naming it', async (t) => {
      const a = await k.kubectl(
        ['apply', '-f', '-'],
        doc('PWMController', 'typo-pwm', 'nodeName: pi-u, pin: 18, frequencyHz: 1000, dutyCycle: 0.5, enable: false'),
      );
      t.not(a.status, 0);
      t.match(a.stderr, /unknown field "enable"/);
      t.equal((await k.api('GET', `${BASE}/pwmcontrollers/typo-pwm`)).status, 404, 'nothing created');
    });

    t.test('past kubectl (--validate=false): dropped by the API server, named in InvalidSpec', async (t) => {
      const a = await k.kubectl(
        ['apply', '--validate=false', '-f', '-'],
        doc('GPIOPin', 'typo', 'nodeName: pi-u, pin: 17, mode: output, valu: 1'),
      );
      t.equal(a.status, 0, a.stderr);
      const o = await settled(k, 'gpiopins', 'typo');
      t.equal(o.spec.valu, undefined, 'the API server pruned it (1.20 has no strict field validation)');
      t.match(o.status, {
        phase: 'Failed',
        conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: /\/spec\/valu: unknown field "valu"/ }],
      });
      await rec.idle();
      t.same(store.hardware.list(node.id, 'gpio'), [], 'nothing stored for the node');
    });

    t.test('a misspelt field inside an I2CDevice register', async (t) => {
      const a = await k.kubectl(
        ['apply', '--validate=false', '-f', '-'],
        doc(
          'I2CDevice',
          'typo-reg',
          'nodeName: pi-u, bus: 1, address: 0x48, registers: [{name: r, register: 0, type: u8, pollIntervalMs: 100, sclae: 2}]',
        ),
      );
      t.equal(a.status, 0, a.stderr);
      const o = await settled(k, 'i2cdevices', 'typo-reg');
      t.match(o.status.conditions[0], { reason: 'InvalidSpec', message: /\/spec\/registers\/0\/sclae: unknown field "sclae"/ });
    });

    t.test('fixing the field and applying again makes the object valid', async (t) => {
      const a = await k.kubectl(['apply', '-f', '-'], doc('GPIOPin', 'typo', 'nodeName: pi-u, pin: 17, mode: output, value: 1'));
      t.equal(a.status, 0, a.stderr);
      const o = await settled(k, 'gpiopins', 'typo');
      t.match(o.status.conditions[0], { reason: /AgentOffline|Applying/ }, 'valid now; it waits for an agent (none here)');
      await rec.idle();
      t.match(store.hardware.require(node.id, 'gpio', hwNameFor('default', 'typo')).spec, { pin: 17, value: 1 });
    });

    t.test('written without kubectl apply (no annotation), an unknown field is dropped unseen', async (t) => {
      const r = await k.api('POST', `${BASE}/gpiopins`, {
        apiVersion: 'gpio.pi-controller.io/v1alpha1',
        kind: 'GPIOPin',
        metadata: { name: 'raw' },
        spec: { nodeName: 'pi-u', pin: 22, mode: 'output', valu: 1 },
      });
      t.equal(r.status, 201);
      t.equal(r.body.spec.valu, undefined, 'pruned');
      const o = await settled(k, 'gpiopins', 'raw');
      t.match(o.status.conditions[0], { reason: /AgentOffline|Applying/ }, 'the documented limit: valid without the field');
    });

    t.test('nothing invalid reached the store', async (t) => {
      await rec.idle();
      t.same(store.hardware.list(node.id, 'i2c'), []);
      t.same(store.hardware.list(node.id, 'pwm'), []);
    });
  },
);
