import t from 'tap';
import { labelValue, nodeLabels } from '../../src/cluster/nodes.js';
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
