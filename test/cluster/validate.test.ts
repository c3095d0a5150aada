import t from 'tap';
import { Validator } from '../../src/api/validate.js';
import { checkSpec } from '../../src/cluster/validate.js';

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
});
