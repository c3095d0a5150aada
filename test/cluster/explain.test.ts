/**
 * The kubectl experience against a real kube-apiserver 1.20.2 with the CRDs the reconciler
 * installs: `kubectl explain` teaches each field (allowed values, range, unit, default, when it
 * applies), pins up to 57 pass the schema, and `kubectl get` shows the Reason column without
 * `-o wide`, PWM implementation and channel, and the I2C address in hex.
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
t.setTimeout(200_000);

/** `kubectl explain` of a field, once the API server publishes the CRD's OpenAPI (a few seconds after it is established). */
async function explain(k: K8sCluster, field: string, extra: string[] = []): Promise<string> {
  let r = await k.kubectl(['explain', field, ...extra]);
  for (let i = 0; i < 60 && r.status !== 0; i++) {
    await new Promise((res) => setTimeout(res, 500));
    r = await k.kubectl(['explain', field, ...extra]);
  }
  if (r.status !== 0) throw new Error(`kubectl explain ${field}: ${r.stderr}`);
  // kubectl wraps long descriptions: one line of words is what is matched.
  return r.stdout.replace(/\s+/g, ' ');
}

t.test('kubectl explain and kubectl get against a real API server', { skip: skip ?? false, timeout: 180_000 }, async (t) => {
  const k = await startK8s(t);
  const store = openStore({ file: join(tempDir(t), 'state.sqlite') });
  t.teardown(() => store.close());
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

  t.test('explain: every field with its allowed values, range, unit, default and when it applies', async (t) => {
    const pin = await explain(k, 'gpiopin.spec.pin');
    t.match(pin, /BCM GPIO number/);
    t.match(pin, /0-57 on BCM2711/);
    t.match(pin, /Range: 0 to 57\./);
    const value = await explain(k, 'gpiopin.spec.value');
    t.match(value, /only for outputs \(mode: output\)/);
    t.match(value, /Range: 0 to 1\./);
    t.match(await explain(k, 'gpiopin.spec.pull'), /Allowed values: none, up, down\. Default: none\./);
    t.match(await explain(k, 'gpiopin.spec.debounceMicros'), /in microseconds .* only for inputs .* Range: 0 to 1000000\./);
    t.match(await explain(k, 'gpiopin.spec.releasePolicy'), /leave \(the default\).* Allowed values: leave, input, low\./);
    t.match(await explain(k, 'pwmcontroller.spec.frequencyHz'), /in Hz .* Range: greater than 0, at most 50000000\./);
    t.match(await explain(k, 'pwmcontroller.spec.implementation'), /Allowed values: hardware, software, auto\. Default: auto\./);
    t.match(await explain(k, 'pwmcontroller.spec.releasePolicy'), /stop \(the default\).* Allowed values: stop, input\./);
    t.match(await explain(k, 'i2cdevice.spec.address'), /7-bit device address.*0x76.* Range: 3 to 119\./);
    t.match(await explain(k, 'i2cdevice.spec.registers.pollIntervalMs'), /in milliseconds .* Range: 10 to 86400000\./);
    t.match(await explain(k, 'i2cdevice.spec.registers.length'), /only for type bytes/);
    const all = await explain(k, 'gpiopin.spec', ['--recursive']);
    for (const f of ['nodeName', 'pin', 'mode', 'pull', 'value', 'activeLow', 'edge', 'debounceMicros', 'releasePolicy'])
      t.match(all, new RegExp(`\\b${f}\\b`), `--recursive lists ${f}`);
  });

  t.test('pins up to 57 pass the schema; 58 is refused', async (t) => {
    const yaml = (name: string, pin: number) =>
      `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: ${name}}\nspec: {nodeName: pi-x, pin: ${pin}, mode: input}\n`;
    const ok = await k.kubectl(['apply', '-f', '-'], yaml('high', 57));
    t.equal(ok.status, 0, ok.stderr);
    const bad = await k.kubectl(['apply', '-f', '-'], yaml('too-high', 58));
    t.not(bad.status, 0);
    t.match(bad.stderr, /spec\.pin.*less than or equal to 57/);
  });

  t.test('kubectl get: Reason without -o wide; PWM implementation and channel; I2C address in hex and the reading', async (t) => {
    const docs = [
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: PWMController\nmetadata: {name: fan}\nspec: {nodeName: pi-x, pin: 18, frequencyHz: 25000, dutyCycle: 0.4}\n',
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: I2CDevice\nmetadata: {name: env}\nspec: {nodeName: pi-x, bus: 1, address: 0x76, decoder: bme280}\n',
    ].join('---\n');
    t.equal((await k.kubectl(['apply', '-f', '-'], docs)).status, 0);
    // No node pi-x: each object lands with reason NodeNotFound, which must show in the default table.
    const table = async (plural: string, name: string, re: RegExp) => {
      let out = '';
      for (let i = 0; i < 100 && !re.test(out); i++) {
        out = (await k.kubectl(['get', plural, name])).stdout;
        if (!re.test(out)) await new Promise((r) => setTimeout(r, 100));
      }
      return out;
    };
    const g = await table('gpiopins', 'high', /NodeNotFound/);
    t.match(g, /NAME\s+NODE\s+PIN\s+MODE\s+VALUE\s+PHASE\s+REASON\s+AGE/);
    t.match(g, /high\s+pi-x\s+57\s+input\s+Pending\s+NodeNotFound/);
    const p = await table('pwmcontrollers', 'fan', /NodeNotFound/);
    t.match(p, /NAME\s+NODE\s+PIN\s+IMPLEMENTATION\s+CHANNEL\s+FREQUENCY\s+DUTY\s+PHASE\s+REASON\s+AGE/);
    const i = await table('i2cdevices', 'env', /NodeNotFound/);
    t.match(i, /NAME\s+NODE\s+BUS\s+ADDRESS\s+DECODER\s+READING\s+PHASE\s+REASON\s+AGE/);
    t.match(i, /env\s+pi-x\s+1\s+0x76\s+bme280\s+Pending\s+NodeNotFound/, 'the address in hex');
  });
});
