import t from 'tap';
import { decodeThrottled, healthChanged, readHealth } from '../../agent/health.js';
import { Health } from '../../src/api/agent.js';
import { Validator } from '../../src/api/validate.js';
import { parseMessage, UP_SCHEMAS } from '../../src/api/agent.js';
import { fixture } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { startRig, newAgent, until } from './rig.js';

t.test('agent health', async (t) => {
  t.test('reads temperature, get_throttled, memory, load and uptime from a fixture tree', async (t) => {
    const h = readHealth({ root: fixture('agent', 'health', 'pi4-undervolt'), agentVersion: '1.2.3', simulated: false });
    t.match(h, {
      agentVersion: '1.2.3',
      simulated: false,
      socTempC: 81.2,
      memTotalBytes: 944140 * 1024,
      memAvailableBytes: 612345 * 1024,
      load1: 0.52,
      load5: 0.33,
      load15: 0.21,
      uptimeSec: 12345.67,
      throttled: {
        raw: 0x50005,
        underVoltage: true,
        frequencyCapped: false,
        throttled: true,
        underVoltageOccurred: true,
        throttledOccurred: true,
        frequencyCappedOccurred: false,
      },
    });
    t.same(new Validator().problems(Health, h), [], 'matches the protocol schema');
    t.equal(parseMessage(new Validator(), UP_SCHEMAS, JSON.stringify({ v: 1, type: 'health', health: h })).ok, true);
  });

  t.test('missing files give nulls, never an error', async (t) => {
    const h = readHealth({ root: tempDir(t), agentVersion: 'x', simulated: true });
    t.equal(h.socTempC, null);
    t.equal(h.throttled, null);
    t.equal(h.memTotalBytes, 0);
  });

  t.test('decodes every get_throttled bit and notices changes', async (t) => {
    t.match(decodeThrottled(0x8), { softTempLimit: true, underVoltage: false });
    t.match(decodeThrottled(0x80000), { softTempLimitOccurred: true, softTempLimit: false });
    const a = readHealth({ root: fixture('agent', 'health', 'pi4-undervolt'), agentVersion: 'x', simulated: false });
    t.ok(healthChanged(undefined, a));
    t.notOk(healthChanged(a, { ...a, load1: 3 }));
    t.ok(healthChanged(a, { ...a, throttled: decodeThrottled(0) }));
    t.ok(healthChanged(a, { ...a, socTempC: 84 }));
  });

  t.test('is reported to the control plane after connect', async (t) => {
    const rig = await startRig(t);
    await newAgent(t, rig, 'pi-health');
    await until(() => rig.hub.info('pi-health').health !== null);
    t.match(rig.hub.info('pi-health').health, { agentVersion: 'test', simulated: true });
    t.match(rig.hub.status(rig.srv.store.nodes.require('pi-health').id), { connected: true, health: { simulated: true } });
  });
});
