import t from 'tap';
import { Validator } from '../../src/api/validate.js';
import { checkOnNode, checkSpec } from '../../src/cluster/validate.js';
import { DECODERS as AGENT_DECODERS } from '../../agent/i2c.js';
import { RESERVED_PINS as AGENT_RESERVED } from '../../agent/gpio.js';
import { DECODERS, RESERVED_PINS } from '../../src/api/soc.js';

const v = new Validator();

t.test('custom resource spec validation in code', async (t) => {
  t.test('a valid GPIOPin gives the node and the REST spec', async (t) => {
    const r = checkSpec(v, 'gpio', { nodeName: 'pi-one', pin: 17, mode: 'output', value: 1, edge: 'none' });
    t.same(r, { ok: true, value: { nodeName: 'pi-one', spec: { pin: 17, mode: 'output', value: 1, edge: 'none' } } });
  });
  t.test('schema problems come with their paths, all of them', async (t) => {
    const r = checkSpec(v, 'gpio', { nodeName: 'Pi', pin: 99, mode: 'blink' });
    t.equal(r.ok, false);
    if (!r.ok) t.same(r.problems.map((p) => p.path).sort(), ['/spec/mode', '/spec/nodeName', '/spec/pin']);
  });
  t.test('rules between fields the schema cannot express', async (t) => {
    const codes = (hw: 'gpio' | 'pwm' | 'i2c', spec: Record<string, unknown>) => {
      const r = checkSpec(v, hw, { nodeName: 'pi-one', ...spec });
      return r.ok ? [] : r.problems.map((p) => p.code);
    };
    t.same(codes('gpio', { pin: 4, mode: 'input', value: 1 }), ['input-has-value']);
    t.same(codes('gpio', { pin: 4, mode: 'output', edge: 'both' }), ['output-has-edge']);
    t.same(codes('pwm', { pin: 18, frequencyHz: 200_000, dutyCycle: 0.5, implementation: 'software' }), ['software-too-fast']);
    t.same(codes('pwm', { pin: 18, frequencyHz: 200_000, dutyCycle: 0.5, implementation: 'hardware' }), []);
    t.same(codes('i2c', { bus: 1, address: 0x76 }), ['nothing-to-read']);
    t.same(codes('i2c', { bus: 1, address: 0x76, decoder: 'bme280' }), []);
    t.same(
      codes('i2c', {
        bus: 1,
        address: 0x76,
        registers: [
          { name: 'a', register: 1, type: 'bytes', pollIntervalMs: 100 },
          { name: 'a', register: 2, type: 'u8', length: 2, pollIntervalMs: 100 },
        ],
      }),
      ['bytes-without-length', 'length-without-bytes', 'duplicate-name'],
    );
  });
  t.test('a decoder at an address its chip cannot have is InvalidSpec', async (t) => {
    const r = checkSpec(v, 'i2c', { nodeName: 'pi-one', bus: 1, address: 0x48, decoder: 'bme280' });
    t.equal(r.ok, false);
    if (!r.ok)
      t.match(r.problems, [{ path: '/spec/address', code: 'decoder-address', message: 'a bme280 answers at 0x76, 0x77, not 0x48' }]);
    t.equal(checkSpec(v, 'i2c', { nodeName: 'pi-one', bus: 1, address: 0x4b, decoder: 'ads1115' }).ok, true);
  });
});

t.test("checks against the node's SoC, before anything is sent", async (t) => {
  const gpio = (pin: number) => ({ pin, mode: 'output' as const });
  const pwm = (pin: number, implementation: 'hardware' | 'software' | 'auto') => ({
    pin,
    frequencyHz: 1000,
    dutyCycle: 0.5,
    implementation,
  });
  t.test('GPIO0/1 are reserved on every SoC', async (t) => {
    for (const soc of ['bcm2711', 'rp1', undefined]) {
      t.match(checkOnNode('gpio', gpio(1), soc), { reason: 'PinReserved', message: /GPIO1 is reserved/ });
      t.match(checkOnNode('pwm', pwm(0, 'software'), soc), { reason: 'PinReserved' });
    }
    t.equal(checkOnNode('gpio', gpio(2), 'bcm2711'), null);
  });
  t.test('pin ranges per SoC: BCM283x and RP1 0-53, BCM2711 0-57', async (t) => {
    for (const soc of ['bcm2835', 'bcm2836', 'bcm2837', 'rp1', 'BCM2712']) {
      t.equal(checkOnNode('gpio', gpio(53), soc), null, `${soc}: 53`);
      t.match(checkOnNode('gpio', gpio(54), soc), { reason: 'PinOutOfRange', message: /GPIO 0-53/ }, `${soc}: 54`);
    }
    t.equal(checkOnNode('gpio', gpio(57), 'bcm2711'), null);
    t.match(checkOnNode('gpio', gpio(58), 'bcm2711'), { reason: 'PinOutOfRange', message: 'bcm2711 has GPIO 0-57' });
    t.equal(checkOnNode('gpio', gpio(57), undefined), null, 'no soc label: left to the schema and the agent');
  });
  t.test('implementation: hardware needs a pin with a PWM channel on the SoC', async (t) => {
    t.equal(checkOnNode('pwm', pwm(18, 'hardware'), 'bcm2711'), null);
    t.match(checkOnNode('pwm', pwm(17, 'hardware'), 'bcm2711'), {
      reason: 'NoHardwarePwm',
      message: /GPIO17 has no hardware PWM on bcm2711/,
    });
    t.equal(checkOnNode('pwm', pwm(17, 'auto'), 'bcm2711'), null, 'auto falls back to software');
    t.equal(checkOnNode('pwm', pwm(17, 'software'), 'bcm2711'), null);
    t.match(checkOnNode('pwm', pwm(45, 'hardware'), 'bcm2711'), { reason: 'NoHardwarePwm' }, 'GPIO45 is PWM on BCM2835 only');
    t.equal(checkOnNode('pwm', pwm(45, 'hardware'), 'bcm2837'), null);
    t.match(checkOnNode('pwm', pwm(14, 'hardware'), 'bcm2835'), { reason: 'NoHardwarePwm' });
    t.equal(checkOnNode('pwm', pwm(14, 'hardware'), 'rp1'), null);
    t.equal(checkOnNode('pwm', pwm(45, 'hardware'), undefined), null, 'unknown SoC: a pin PWM-capable on some SoC is left to the agent');
    t.match(checkOnNode('pwm', pwm(17, 'hardware'), undefined), { reason: 'NoHardwarePwm', message: /on any Raspberry Pi SoC/ });
  });
  t.test('the agent enforces the same tables', async (t) => {
    t.equal(AGENT_DECODERS, DECODERS);
    t.equal(AGENT_RESERVED, RESERVED_PINS);
  });
});
