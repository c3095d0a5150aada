import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Level } from '../../src/hw/index.js';
import { AgentHub } from '../../src/link/hub.js';
import { silentLogger } from '../../src/log/index.js';
import { CertManager } from '../../src/certs/index.js';
import { startRig, newAgent, startAgent, until, nextApplied, enrolNode } from './rig.js';

/** 28 outputs on GPIO2-29 with alternating levels. */
const PINS = Array.from({ length: 28 }, (_, i) => i + 2);
const level = (pin: number): Level => (pin % 2) as Level;

t.test('agent restart', async (t) => {
  t.test('restarting an agent with 28 outputs set makes no register write', async (t) => {
    const rig = await startRig(t);
    const first = await newAgent(t, rig, 'pi-r');
    await until(() => first.agent.connected);
    const nodeId = rig.srv.store.nodes.require('pi-r').id;
    for (const pin of PINS) rig.srv.store.hardware.create(nodeId, 'gpio', `out-${pin}`, { pin, mode: 'output', value: level(pin) });
    const applied = nextApplied(first.agent);
    rig.hub.pushDesired(nodeId);
    t.equal((await applied).length, 28);
    t.same(
      PINS.map((p) => [first.chip.getMode(p), first.chip.read(p)]),
      PINS.map((p) => ['output', level(p)]),
      'outputs set',
    );
    t.ok(
      first.chip.trace().some((e) => e.op === 'write'),
      'the first apply did write (the trace records writes)',
    );
    await first.agent.stop();
    first.chip.close();

    // A new process would map the same page: the registers hold what the old agent left.
    const again = startAgent(t, first.stateDir, false, false);
    again.chip.clearTrace();
    // The control plane sends the same snapshot again on connect; wait for the agent to report it.
    const reconciled = nextApplied(again.agent);
    again.agent.start();
    t.equal((await reconciled).length, 28);
    const writes = again.chip.trace().filter((e) => e.op === 'write');
    t.same(writes, [], 'zero register writes across restart and reconcile');
    t.same(
      PINS.map((p) => [again.chip.getMode(p), again.chip.read(p)]),
      PINS.map((p) => ['output', level(p)]),
      'levels unchanged',
    );
  });

  t.test('agent endpoint killed and restarted: agent reconnects, pins unchanged meanwhile, state reconciled', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-k');
    await until(() => a.agent.connected);
    const nodeId = rig.srv.store.nodes.require('pi-k').id;
    rig.srv.store.hardware.create(nodeId, 'gpio', 'relay', { pin: 5, mode: 'output', value: 1 });
    const p = nextApplied(a.agent);
    rig.hub.pushDesired(nodeId);
    await p;
    const port = Number(new URL(rig.hub.url).port);
    await rig.hub.close();
    await until(() => !a.agent.connected);
    a.chip.clearTrace();
    // While the control plane is away the desired state changes in the store; the pins must not.
    rig.srv.store.hardware.replace(nodeId, 'gpio', 'relay', { pin: 5, mode: 'output', value: 0 });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(a.chip.read(5), 1, 'pin unchanged while the control plane is down');
    t.same(
      a.chip.trace().filter((e) => e.op === 'write'),
      [],
      'no register written during the outage',
    );
    const hub2 = new AgentHub({
      store: rig.srv.store,
      bus: rig.bus,
      certs: await CertManager.open({ dir: rig.certDir }),
      log: silentLogger(),
      port,
      heartbeatMs: 1000,
    });
    t.teardown(() => hub2.close());
    await hub2.listen();
    await until(() => a.agent.connected, 8000);
    await until(() => a.chip.read(5) === 0);
    t.equal(a.chip.read(5), 0, 'reconciled to the desired state after reconnect');
    await until(() => rig.srv.store.hardware.require(nodeId, 'gpio', 'relay').status.observedGeneration === 2);
    t.pass('status observed generation 2');
  });

  t.test('a kept spec that fails the schema is refused on start; the rest of the kept snapshot is applied', async (t) => {
    const rig = await startRig(t);
    const { stateDir } = await enrolNode(t, rig, 'pi-old');
    // As an earlier release might have kept it: `colour` is no field of a GPIO spec.
    const kept = [
      { kind: 'gpio', name: 'lamp', generation: 1, spec: { pin: 5, mode: 'output', value: 1 } },
      { kind: 'gpio', name: 'odd', generation: 1, spec: { pin: 6, mode: 'output', value: 1, colour: 'red' } },
    ];
    writeFileSync(join(stateDir, 'desired.json'), JSON.stringify({ seq: 3, items: kept }));
    const a = startAgent(t, stateDir, true, false);
    t.same(
      a.agent.desired.map((i) => i.name),
      ['lamp'],
      'only the object whose spec passes is held as desired',
    );
    a.chip.clearTrace();
    a.agent.start();
    t.same([a.chip.getMode(5), a.chip.read(5)], ['output', 1], 'the valid object is applied');
    t.same([a.chip.getMode(6), a.chip.read(6)], ['input', 0], 'the refused object touches nothing');
  });
});
