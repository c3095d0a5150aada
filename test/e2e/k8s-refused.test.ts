/**
 * End to end: a spec that the node would refuse is refused by the control plane before it is
 * stored, and the object keeps its last valid state stored and applied. A real kube-apiserver
 * 1.20.2, the control plane with the cluster reconciler, and an agent over the behavioural
 * BCM2711 model (register page file, virtual I2C bus with an ADS1115 at 0x48).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler, hwNameFor } from '../../src/cluster/reconciler.js';
import { silentLogger } from '../../src/log/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { newAgent, startRig, until } from '../agent/rig.js';

const skip = k8sUnavailable();
t.setTimeout(250_000);

const BASE = '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default';

/** The level of a pin as the register page file holds it (GPLEV0 at 0x34). */
const level = (page: string, pin: number) => (readFileSync(page).readUInt32LE(0x34) >>> pin) & 1;

/** Waits until the object's Ready condition has `reason` for its current generation. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an API object, inspected field by field
async function untilReason(k: K8sCluster, plural: string, name: string, reason: string, ms = 20_000): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const o = (await k.api('GET', `${BASE}/${plural}/${name}`)).body;
    const c = o?.status?.conditions?.find((x: { type: string }) => x.type === 'Ready');
    if (c?.reason === reason && o.status.observedGeneration === o.metadata.generation) return o;
    if (Date.now() > end)
      throw new Error(`${plural}/${name}: reason ${String(c?.reason)} (wanted ${reason}): ${JSON.stringify(o?.status)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('specs the node would refuse', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const k = await startK8s(t);
  const rig = await startRig(t);
  const agent = await newAgent(t, rig, 'pi-r');
  const store = rig.srv.store;
  const node = store.nodes.require('pi-r');
  // What probing stores for a Pi 4.
  store.nodes.update(node.id, { labels: { soc: 'bcm2711' } });
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store,
    bus: rig.bus,
    agents: rig.hub,
    log: silentLogger(),
    statusPollMs: 20,
    minReportIntervalMs: 200,
  });
  t.teardown(() => rec.stop());
  await rec.start();

  t.test('I2CDevice ads1115 at 0x48, then decoder bme280: InvalidSpec, the ads1115 stays stored and read', async (t) => {
    const doc =
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: I2CDevice\nmetadata: {name: adc}\nspec: {nodeName: pi-r, bus: 1, address: 0x48, decoder: ads1115}\n';
    t.equal((await k.kubectl(['apply', '-f', '-'], doc)).status, 0);
    const ok = await untilReason(k, 'i2cdevices', 'adc', 'Applied');
    t.match(ok.status, { phase: 'Ready', observedGeneration: 1 });
    const before = store.hardware.require(node.id, 'i2c', hwNameFor('default', 'adc'));

    const p = await k.kubectl(['patch', 'i2cdevice', 'adc', '--type=merge', '-p', '{"spec":{"decoder":"bme280"}}']);
    t.equal(p.status, 0, p.stderr);
    const bad = await untilReason(k, 'i2cdevices', 'adc', 'InvalidSpec');
    t.match(bad.status, {
      phase: 'Failed',
      observedGeneration: 2,
      conditions: [{ status: 'False', message: /\/spec\/address: a bme280 answers at 0x76, 0x77, not 0x48/ }],
    });
    await rec.idle();
    const after = store.hardware.require(node.id, 'i2c', hwNameFor('default', 'adc'));
    t.same(after.spec, { bus: 1, address: 0x48, decoder: 'ads1115' }, 'the stored desired state is still the ads1115 one');
    t.equal(after.generation, before.generation, 'not even a new generation was stored');
    t.match(after.status, { phase: 'Applied' }, 'and the agent still has it applied');
    t.equal((await k.kubectl(['delete', 'i2cdevice', 'adc', '--wait=true', '--timeout=30s'])).status, 0);
  });

  t.test('GPIOPin moved from 25 to 1: PinReserved, pin 25 still owned, stored and driven', async (t) => {
    const doc =
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: relay}\nspec: {nodeName: pi-r, pin: 25, mode: output, value: 1}\n';
    t.equal((await k.kubectl(['apply', '-f', '-'], doc)).status, 0);
    await untilReason(k, 'gpiopins', 'relay', 'Applied');
    await until(() => level(agent.page, 25) === 1, 20_000);

    t.equal((await k.kubectl(['patch', 'gpiopin', 'relay', '--type=merge', '-p', '{"spec":{"pin":1}}'])).status, 0);
    const bad = await untilReason(k, 'gpiopins', 'relay', 'PinReserved');
    t.match(bad.status, { phase: 'Failed', conditions: [{ status: 'False', message: /GPIO1 is reserved/ }] });
    await rec.idle();
    t.match(store.hardware.require(node.id, 'gpio', hwNameFor('default', 'relay')).spec, { pin: 25, value: 1 }, 'pin 25 still stored');
    // Another object asking for pin 25 finds it owned.
    const other =
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: intruder}\nspec: {nodeName: pi-r, pin: 25, mode: output, value: 0}\n';
    t.equal((await k.kubectl(['apply', '-f', '-'], other)).status, 0);
    const busy = await untilReason(k, 'gpiopins', 'intruder', 'PinBusy');
    t.match(busy.status.conditions[0].message, /held by GPIOPin default\/relay/);
    t.equal(level(agent.page, 25), 1, 'pin 25 still driven high');

    // Moved to a pin this SoC has no hardware PWM on, as a PWMController: refused the same way.
    const pwm =
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: PWMController\nmetadata: {name: fan}\nspec: {nodeName: pi-r, pin: 17, frequencyHz: 1000, dutyCycle: 0.5, implementation: hardware}\n';
    t.equal((await k.kubectl(['apply', '-f', '-'], pwm)).status, 0);
    const nohw = await untilReason(k, 'pwmcontrollers', 'fan', 'NoHardwarePwm');
    t.match(nohw.status.conditions[0].message, /GPIO17 has no hardware PWM on bcm2711/);
    t.same(store.hardware.list(node.id, 'pwm'), [], 'nothing stored for it');
    await k.kubectl(['delete', 'gpiopin/intruder', 'gpiopin/relay', 'pwmcontroller/fan', '--wait=true', '--timeout=30s']);
  });
});
