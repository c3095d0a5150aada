import t from 'tap';
import { join } from 'node:path';
import { labelValue, nodeConditions, nodeLabels, rememberPiModel, rememberSoc } from '../../src/cluster/nodes.js';
import { EventBus } from '../../src/events/bus.js';
import { openStore } from '../../src/store/index.js';
import { tempDir } from '../support/tmp.js';
import type { Node } from '../../src/api/nodes.js';

const node = (over: Partial<Node>): Node => ({
  id: 'n1',
  name: 'pi-one',
  address: null,
  mac: null,
  model: null,
  state: 'ready',
  labels: {},
  clusterId: null,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  lastSeenAt: null,
  ...over,
});

t.test('node labels', async (t) => {
  t.test('capabilities become pi-controller.io/ labels usable in node selectors', async (t) => {
    t.same(nodeLabels(node({ model: 'Raspberry Pi 4 Model B Rev 1.5', labels: { soc: 'bcm2711', 'i2c-buses': '1' } }), true), {
      'pi-controller.io/managed': 'true',
      'pi-controller.io/gpio': 'true',
      'pi-controller.io/model': 'Raspberry-Pi-4-Model-B-Rev-1.5',
      'pi-controller.io/soc': 'bcm2711',
      'pi-controller.io/i2c-buses': '1',
    });
  });
  t.test('no gpio label without an agent; keys that cannot be label names are left out', async (t) => {
    const l = nodeLabels(node({ labels: { 'bad key!': 'x', 'zone/rack': 'a' } }), false);
    t.same(l, { 'pi-controller.io/managed': 'true' });
  });
  t.test('label values are trimmed to what Kubernetes accepts', async (t) => {
    t.equal(labelValue('  Pi 5 (8GB)  '), 'Pi-5-8GB');
    t.equal(labelValue('x'.repeat(80)).length, 63);
  });
});

t.test('Node objects with no kubelet', async (t) => {
  const now = new Date('2026-12-03T22:00:00Z');
  t.test('Ready=False NoKubelet and the agent condition from its link and health', async (t) => {
    const health = { socTempC: 48.25, throttled: { raw: 0x50000, underVoltage: false, throttled: false, underVoltageOccurred: true } };
    const c = nodeConditions({ connected: true, since: '2026-12-03T21:00:00Z', health }, [], now);
    t.match(c, [
      { type: 'Ready', status: 'False', reason: 'NoKubelet', lastHeartbeatTime: '2026-12-03T22:00:00Z' },
      {
        type: 'PiControllerAgent',
        status: 'True',
        reason: 'AgentConnected',
        message: /since 2026-12-03T21:00:00Z; SoC 48\.3 °C; no under-voltage or throttling/,
      },
    ]);
    const off = nodeConditions({ connected: false, since: null, health: null }, c, new Date('2026-12-03T22:00:20Z'));
    t.match(off[1], { status: 'False', reason: 'AgentOffline', lastTransitionTime: '2026-12-03T22:00:20Z' });
    t.match(
      off[0],
      { lastTransitionTime: '2026-12-03T22:00:00Z', lastHeartbeatTime: '2026-12-03T22:00:20Z' },
      'unchanged: transition kept, heartbeat new',
    );
    const under = nodeConditions(
      { connected: true, since: 'x', health: { socTempC: 60, throttled: { underVoltage: true, throttled: true } } },
      [],
      now,
    );
    t.match(under[1].message, /now: underVoltage, throttled/);
  });
  t.test('the SoC an agent reports becomes the node label when it has none', async (t) => {
    const store = openStore({ file: join(tempDir(t), 's.sqlite') });
    t.teardown(() => store.close());
    const bus = new EventBus();
    const seen: string[] = [];
    bus.on('test', 'node.updated', (e) => seen.push(e.data.labels.soc ?? ''));
    const a = store.nodes.create({ name: 'pi-a' });
    rememberSoc(store, bus, a.id, 'bcm2711');
    t.same(store.nodes.require('pi-a').labels, { soc: 'bcm2711' });
    t.same(seen, ['bcm2711'], 'node.updated emitted');
    const b = store.nodes.create({ name: 'pi-b', labels: { soc: 'bcm2837' } });
    rememberSoc(store, bus, b.id, 'bcm2711');
    t.same(store.nodes.require('pi-b').labels, { soc: 'bcm2837' }, 'a stored label is kept');
    t.same(seen, ['bcm2711']);
  });
  t.test("a Pi's detected model becomes pi-controller.io/pi-model; none reported, none given", async (t) => {
    const store = openStore({ file: join(tempDir(t), 's.sqlite') });
    t.teardown(() => store.close());
    const bus = new EventBus();
    const a = store.nodes.create({ name: 'pi-a' });
    rememberPiModel(store, bus, a.id, 'Zero 2 W');
    t.equal(nodeLabels(store.nodes.require('pi-a'), true)['pi-controller.io/pi-model'], 'Zero-2-W');
    const pc = store.nodes.create({ name: 'pc' });
    rememberPiModel(store, bus, pc.id, undefined);
    t.same(store.nodes.require('pc').labels, {}, 'a simulated agent (or a PC) reports no model: no label is made up');
    t.notOk('pi-controller.io/pi-model' in nodeLabels(store.nodes.require('pc'), true));
    rememberPiModel(store, bus, a.id, '4B');
    t.equal(store.nodes.require('pi-a').labels['pi-model'], 'Zero 2 W', 'a stored model is kept');
  });
});
