/**
 * A node's life-cycle state follows its agent: a node made by a join token is `provisioning`
 * until its agent enrols and says hello, then `ready` (announced as `node.updated`); a state an
 * operator chose (`retired`, `error`) is left alone.
 */
import t from 'tap';
import type { EventEnvelope } from '../../src/api/events.js';
import { newAgent, startRig, until } from '../agent/rig.js';
import { waitFor } from '../support/wait.js';

t.test('node state on agent connect', async (t) => {
  const rig = await startRig(t);

  t.test('a node made by a join token is ready once its agent connected', async (t) => {
    const updates: EventEnvelope[] = [];
    rig.bus.on('node-state-test', 'node.updated', (e) => void updates.push(e));
    t.teardown(() => rig.bus.removeOwner('node-state-test'));
    rig.hub.createJoinToken('pi-state');
    t.equal(rig.srv.store.nodes.require('pi-state').state, 'provisioning', 'provisioning before the agent enrols');
    await newAgent(t, rig, 'pi-state');
    // The hello is handled on the control plane's side of the link: give it a moment (bounded).
    await waitFor(() => rig.srv.store.nodes.require('pi-state').state === 'ready', 10_000, 10);
    t.equal(rig.srv.store.nodes.require('pi-state').state, 'ready', 'ready after hello');
    t.ok(
      updates.some(
        (e) => (e.data as { name?: string; state?: string }).name === 'pi-state' && (e.data as { state?: string }).state === 'ready',
      ),
      'node.updated says so',
    );
  });

  t.test('a retired node stays retired when its agent connects', async (t) => {
    rig.hub.createJoinToken('pi-retired');
    const n = rig.srv.store.nodes.require('pi-retired');
    rig.srv.store.nodes.update(n.id, { state: 'retired' });
    const a = await newAgent(t, rig, 'pi-retired');
    await until(() => rig.hub.info('pi-retired').connected, 10_000);
    t.ok(a.agent, 'the agent connected');
    t.equal(rig.srv.store.nodes.require('pi-retired').state, 'retired');
  });
});
