/**
 * Invalid GPIOPin, PWMController and I2CDevice objects against a real kube-apiserver 1.20.2 and
 * the reconciler: each one is either refused by the API server (the CRD schema) or lands with
 * Ready=False, reason InvalidSpec, and nothing in the store for any node.
 */
import t from 'tap';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler, hwNameFor } from '../../src/cluster/reconciler.js';
import { EventBus } from '../../src/events/bus.js';
import { silentLogger } from '../../src/log/index.js';
import { openStore } from '../../src/store/index.js';
import { k8sUnavailable, startK8s } from '../support/k8s/cluster.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const skip = k8sUnavailable();
t.setTimeout(scaled(250_000));

type Case = [
  name: string,
  kind: 'GPIOPin' | 'PWMController' | 'I2CDevice',
  spec: Record<string, unknown>,
  expect: 'refused' | 'InvalidSpec',
];

const G = (spec: Record<string, unknown>) => ({ nodeName: 'pi-v', pin: 17, mode: 'output', ...spec });
const P = (spec: Record<string, unknown>) => ({ nodeName: 'pi-v', pin: 18, frequencyHz: 1000, dutyCycle: 0.5, ...spec });
const I = (spec: Record<string, unknown>) => ({ nodeName: 'pi-v', bus: 1, address: 0x48, decoder: 'ads1115', ...spec });
const reg = (r: Record<string, unknown>) => ({ name: 'r', register: 0, type: 'u8', pollIntervalMs: 100, ...r });

const CASES: Case[] = [
  // GPIOPin: the schema refuses these at the API server.
  ['g-pin-high', 'GPIOPin', G({ pin: 58 }), 'refused'],
  ['g-pin-negative', 'GPIOPin', G({ pin: -1 }), 'refused'],
  ['g-pin-string', 'GPIOPin', G({ pin: 'seventeen' }), 'refused'],
  ['g-mode', 'GPIOPin', G({ mode: 'blink' }), 'refused'],
  ['g-no-mode', 'GPIOPin', { nodeName: 'pi-v', pin: 3 }, 'refused'],
  ['g-no-node', 'GPIOPin', { pin: 3, mode: 'input' }, 'refused'],
  ['g-node-name', 'GPIOPin', G({ nodeName: 'Pi_V' }), 'refused'],
  ['g-pull', 'GPIOPin', G({ pull: 'sideways' }), 'refused'],
  ['g-value', 'GPIOPin', G({ value: 2 }), 'refused'],
  ['g-edge', 'GPIOPin', G({ mode: 'input', edge: 'up' }), 'refused'],
  ['g-debounce', 'GPIOPin', G({ mode: 'input', edge: 'both', debounceMicros: 2_000_000 }), 'refused'],
  ['g-active-low', 'GPIOPin', G({ activeLow: 'yes' }), 'refused'],
  // GPIOPin: rules between fields, caught by our code (1.20 has no CEL).
  ['g-input-value', 'GPIOPin', G({ mode: 'input', value: 1 }), 'InvalidSpec'],
  ['g-output-edge', 'GPIOPin', G({ edge: 'rising' }), 'InvalidSpec'],
  ['g-output-debounce', 'GPIOPin', G({ debounceMicros: 100 }), 'InvalidSpec'],
  ['g-debounce-no-edge', 'GPIOPin', G({ mode: 'input', debounceMicros: 100 }), 'InvalidSpec'],
  // PWMController.
  ['p-freq-zero', 'PWMController', P({ frequencyHz: 0 }), 'refused'],
  ['p-freq-high', 'PWMController', P({ frequencyHz: 60_000_000 }), 'refused'],
  ['p-duty-high', 'PWMController', P({ dutyCycle: 1.5 }), 'refused'],
  ['p-duty-negative', 'PWMController', P({ dutyCycle: -0.1 }), 'refused'],
  ['p-impl', 'PWMController', P({ implementation: 'magic' }), 'refused'],
  ['p-polarity', 'PWMController', P({ polarity: 'upside-down' }), 'refused'],
  ['p-no-duty', 'PWMController', { nodeName: 'pi-v', pin: 18, frequencyHz: 1000 }, 'refused'],
  ['p-pin', 'PWMController', P({ pin: 60 }), 'refused'],
  ['p-software-fast', 'PWMController', P({ implementation: 'software', frequencyHz: 1_000_000 }), 'InvalidSpec'],
  // I2CDevice.
  ['i-bus', 'I2CDevice', I({ bus: 32 }), 'refused'],
  ['i-address-high', 'I2CDevice', I({ address: 0x78 }), 'refused'],
  ['i-address-reserved', 'I2CDevice', I({ address: 0x01 }), 'refused'],
  ['i-decoder-pattern', 'I2CDevice', I({ decoder: 'BME 280' }), 'refused'],
  ['i-reg-number', 'I2CDevice', I({ registers: [reg({ register: 256 })] }), 'refused'],
  ['i-reg-type', 'I2CDevice', I({ registers: [reg({ type: 'float' })] }), 'refused'],
  ['i-reg-poll', 'I2CDevice', I({ registers: [reg({ pollIntervalMs: 5 })] }), 'refused'],
  ['i-reg-name', 'I2CDevice', I({ registers: [reg({ name: '9lives' })] }), 'refused'],
  ['i-reg-length', 'I2CDevice', I({ registers: [reg({ type: 'bytes', length: 33 })] }), 'refused'],
  ['i-nothing', 'I2CDevice', { nodeName: 'pi-v', bus: 1, address: 0x48 }, 'InvalidSpec'],
  ['i-unknown-decoder', 'I2CDevice', I({ decoder: 'flux-capacitor' }), 'InvalidSpec'],
  ['i-bytes-no-length', 'I2CDevice', I({ registers: [reg({ type: 'bytes' })] }), 'InvalidSpec'],
  ['i-length-not-bytes', 'I2CDevice', I({ registers: [reg({ length: 2 })] }), 'InvalidSpec'],
  ['i-duplicate-names', 'I2CDevice', I({ registers: [reg({}), reg({ register: 1 })] }), 'InvalidSpec'],
];

const PLURAL = { GPIOPin: 'gpiopins', PWMController: 'pwmcontrollers', I2CDevice: 'i2cdevices' } as const;

t.test('invalid custom resources', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  t.ok(CASES.length >= 30, `${CASES.length} invalid objects`);
  const k = await startK8s(t);
  const dir = tempDir(t);
  const store = openStore({ file: join(dir, 'state.sqlite') });
  t.teardown(() => store.close());
  const node = store.nodes.create({ name: 'pi-v' }, 'ready');
  const bus = new EventBus();
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({ kubeConfig: kc, store, bus, agents: undefined, log: silentLogger(), statusPollMs: 20 });
  t.teardown(() => rec.stop());
  await rec.start();

  const landed: string[] = [];
  for (const [name, kind, spec, expect] of CASES) {
    const r = await k.api('POST', `/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/${PLURAL[kind]}`, {
      apiVersion: 'gpio.pi-controller.io/v1alpha1',
      kind,
      metadata: { name },
      spec,
    });
    if (expect === 'refused') {
      t.equal(r.status, 422, `${name}: refused by the API server (${String(r.body?.message ?? '').slice(0, 160)})`);
    } else {
      t.equal(r.status, 201, `${name}: accepted by the schema, left to our validation`);
      landed.push(name);
    }
  }

  // A valid object beside them, to show the reconciler is working on this node at all.
  const ok = await k.api('POST', '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins', {
    apiVersion: 'gpio.pi-controller.io/v1alpha1',
    kind: 'GPIOPin',
    metadata: { name: 'valid' },
    spec: { nodeName: 'pi-v', pin: 5, mode: 'output', value: 1 },
  });
  t.equal(ok.status, 201);

  const end = Date.now() + 30_000;
  for (const [name, kind, , expect] of CASES) {
    if (expect !== 'InvalidSpec') continue;
    let o: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- an API object, inspected field by field
    for (;;) {
      o = (await k.api('GET', `/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/${PLURAL[kind]}/${name}`)).body;
      if (o?.status?.observedGeneration === o?.metadata?.generation) break;
      if (Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    t.match(
      o.status,
      { phase: 'Failed', conditions: [{ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: /\/spec/ }] },
      `${name}: ${String(o.status?.message)}`,
    );
  }
  t.equal(landed.length, CASES.filter((c) => c[3] === 'InvalidSpec').length);
  // The valid one was stored; no invalid one was.
  await rec.idle();
  const stored = (['gpio', 'pwm', 'i2c'] as const).flatMap((hw) => store.hardware.list(node.id, hw).map((o) => o.name));
  t.same(stored, [hwNameFor('default', 'valid')], 'only the valid object reached the store');
  const v = (await k.api('GET', '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins/valid')).body;
  t.match(v.status?.conditions?.[0], { reason: /AgentOffline|Applying/ }, 'the valid one waits for an agent (none in this test)');

  t.test('an object that becomes invalid keeps what was applied before', async (t) => {
    const r = await k.api(
      'PATCH',
      '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins/valid',
      { spec: { mode: 'input' } },
      'application/merge-patch+json',
    );
    t.equal(r.status, 200);
    const end2 = Date.now() + 20_000;
    let o: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- as above
    do {
      await new Promise((res) => setTimeout(res, 50));
      o = (await k.api('GET', '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins/valid')).body;
    } while (o.status?.observedGeneration !== 2 && Date.now() < end2);
    t.match(o.status.conditions[0], { reason: 'InvalidSpec', message: /value is only meaningful for an output/ });
    t.match(
      store.hardware.require(node.id, 'gpio', hwNameFor('default', 'valid')).spec,
      { mode: 'output', value: 1 },
      'stored spec unchanged',
    );
  });
});
