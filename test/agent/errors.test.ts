/**
 * The agent's errors (AgentError, agent/errors.ts): a stable code and message, where the CLI
 * prints them and where PWM and I2C refusals carry them into an object's reported state.
 */
import t from 'tap';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.js';
import { runAgent } from '../../agent/main.js';
import { silentLogger } from '../../src/log/index.js';
import { tempDir } from '../support/tmp.js';
import { newAgent, pushDesired, simChip, startRig } from './rig.js';

t.test('agent errors', async (t) => {
  t.test('start without credentials throws AgentError NOT_ENROLLED and writes no register', async (t) => {
    const dir = tempDir(t, 'pic-noenrol-');
    const chip = simChip(join(dir, 'gpiomem.sim'), true);
    t.teardown(() => chip.close());
    const agent = new Agent({ stateDir: dir, chip, log: silentLogger(), version: 'test' });
    t.throws(() => agent.start(), {
      name: 'AgentError',
      code: 'NOT_ENROLLED',
      message: /^no credentials in .*: enrol first with --join-token$/,
    });
    t.same(
      chip.trace().filter((e) => e.op === 'write'),
      [],
      'no register written',
    );
    await agent.stop();
  });

  t.test('runAgent with no credentials and no join token rejects with AgentError NOT_ENROLLED', async (t) => {
    const dir = tempDir(t, 'pic-noenrol-');
    await t.rejects(runAgent({ stateDir: dir, sim: true, log: silentLogger(), version: 'test' }), {
      name: 'AgentError',
      code: 'NOT_ENROLLED',
      message: /pass --server and --join-token$/,
    });
  });

  t.test('an agent without PWM or I2C access reports the objects Failed with the error code', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-bare', { agent: { pwm: {}, i2c: undefined } });
    const nodeId = rig.srv.store.nodes.require('pi-bare').id;
    rig.srv.store.hardware.create(nodeId, 'pwm', 'fan', { pin: 18, frequencyHz: 1000, dutyCycle: 0.5, implementation: 'hardware' });
    rig.srv.store.hardware.create(nodeId, 'i2c', 'climate', { bus: 1, address: 0x76, decoder: 'bme280' });
    const got = await pushDesired(rig, a.agent, nodeId);
    t.match(
      got.find((i) => i.name === 'fan'),
      {
        phase: 'Failed',
        reason: 'NoPwmAccess',
        actual: { code: 'ENOPWM', message: 'this agent has no hardware PWM access' },
      },
    );
    t.match(
      got.find((i) => i.name === 'climate'),
      {
        phase: 'Failed',
        reason: 'HardwareError',
        actual: { code: 'ENOI2C', message: 'cannot open I2C bus 1: this agent has no I2C access' },
      },
    );
  });
});
