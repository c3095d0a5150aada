/**
 * What the agent does with a pin when its object lets it go (deleted, moved to another pin or
 * node, or to another implementation): one documented choice per kind, `releasePolicy`.
 * GPIO: leave (default) | input | low; PWM: stop (default) | input; I2C: stop. Checked on the
 * register page files of the behavioural BCM2711 model (the silicon is the only thing simulated),
 * through the real control plane and mutual-TLS link.
 */
import t from 'tap';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type AppliedItem } from '../../src/api/agent.js';
import { PWM_REG } from '../../src/hw/pwm.js';
import type { VirtualBme280 } from '../../src/hw/devices/virtual-bme280.js';
import { newAgent, nextApplied, pushDesired, startAgent, startRig, until, type Rig, type TestAgent } from './rig.js';

t.setTimeout(120_000);

/** GPFSEL field of a pin in the GPIO page: 0 input, 1 output, 0b010 ALT5, 0b100 ALT0. */
function fsel(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(4 * Math.floor(pin / 10)) >>> (3 * (pin % 10))) & 7;
}
function level(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(0x34) >>> pin) & 1;
}
/** BCM2711 GPIO_PUP_PDN_CNTRL field of a pin (0xE4, 2 bits a pin): 0 none, 1 up, 2 down. */
function pull(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(0xe4 + 4 * Math.floor(pin / 16)) >>> (2 * (pin % 16))) & 3;
}
/** PWM CTL (PWM0 page at 4096 in pwm.sim). */
function pwmCtl(stateDir: string): number {
  return readFileSync(join(stateDir, 'pwm.sim')).readUInt32LE(4096 + PWM_REG.CTL);
}

type Item = { kind: 'gpio' | 'pwm' | 'i2c'; name: string; generation: number; spec: Record<string, unknown> };
let seq = 1000;
/** Sends a desired snapshot straight down the link; resolves with the agent's report. */
async function send(rig: Rig, a: TestAgent, node: string, items: Item[]): Promise<AppliedItem[]> {
  const applied = nextApplied(a.agent);
  rig.hub.sendRaw(rig.srv.store.nodes.require(node).id, JSON.stringify({ v: PROTOCOL_VERSION, type: 'desired', seq: ++seq, items }));
  return applied;
}
const gpio = (name: string, spec: Record<string, unknown>, generation = 1): Item => ({ kind: 'gpio', name, generation, spec });
const pwm = (name: string, spec: Record<string, unknown>, generation = 1): Item => ({ kind: 'pwm', name, generation, spec });
const byName = (items: AppliedItem[], name: string) => items.find((i) => i.name === name);

t.test('GPIOPin releasePolicy', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-rel');
  await until(() => a.agent.connected);

  t.test('deleted: leave (the default) keeps the pin, input makes it an input without pull, low drives it low', async (t) => {
    const got = await send(rig, a, 'pi-rel', [
      gpio('keep', { pin: 5, mode: 'output', value: 1 }),
      gpio('float', { pin: 6, mode: 'output', value: 1, releasePolicy: 'input' }),
      gpio('sink', { pin: 7, mode: 'input', pull: 'up', releasePolicy: 'low' }),
      gpio('sink-inv', { pin: 8, mode: 'output', value: 0, activeLow: true, releasePolicy: 'low' }),
      gpio('pulled', { pin: 9, mode: 'input', pull: 'down', releasePolicy: 'input' }),
    ]);
    t.ok(
      got.every((i) => i.phase === 'Applied'),
      'all applied',
    );
    t.same([level(a.page, 5), level(a.page, 6), pull(a.page, 7), level(a.page, 8), pull(a.page, 9)], [1, 1, 1, 1, 2]);
    await send(rig, a, 'pi-rel', []);
    t.same([fsel(a.page, 5), level(a.page, 5)], [1, 1], 'leave: still an output, still high');
    t.same([fsel(a.page, 6), pull(a.page, 6)], [0, 0], 'input: an input without pull');
    t.same([fsel(a.page, 7), level(a.page, 7)], [1, 0], 'low: the input became an output driven low');
    t.same([fsel(a.page, 8), level(a.page, 8)], [1, 0], 'low is the electrical level, whatever activeLow says');
    t.same([fsel(a.page, 9), pull(a.page, 9)], [0, 0], 'input: the pull-down is removed');
  });

  t.test('moved to another pin: the old pin is released by the new spec; the new one is driven', async (t) => {
    await send(rig, a, 'pi-rel', [gpio('led', { pin: 20, mode: 'output', value: 1 })]);
    t.equal(level(a.page, 20), 1);
    const moved = await send(rig, a, 'pi-rel', [gpio('led', { pin: 21, mode: 'output', value: 1, releasePolicy: 'low' }, 2)]);
    t.match(byName(moved, 'led'), { phase: 'Applied', generation: 2 });
    t.same([fsel(a.page, 20), level(a.page, 20)], [1, 0], 'GPIO20 let go low');
    t.same([fsel(a.page, 21), level(a.page, 21)], [1, 1], 'GPIO21 drives');
    await send(rig, a, 'pi-rel', []);
    t.same([fsel(a.page, 21), level(a.page, 21)], [1, 0], 'deleted afterwards: low, as its last spec said');
  });

  t.test('a pin another object takes in the same snapshot is not released, and no level glitch is written', async (t) => {
    await send(rig, a, 'pi-rel', [gpio('old', { pin: 22, mode: 'output', value: 1, releasePolicy: 'low' })]);
    a.chip.clearTrace();
    const got = await send(rig, a, 'pi-rel', [gpio('new', { pin: 22, mode: 'output', value: 1 })]);
    t.match(byName(got, 'new'), { phase: 'Applied' });
    t.same(
      a.chip.trace().filter((e) => e.op === 'write'),
      [],
      'no register written: handed over, not released low and driven again',
    );
    t.same([fsel(a.page, 22), level(a.page, 22)], [1, 1], 'still high');
    await send(rig, a, 'pi-rel', []);
    t.same([fsel(a.page, 22), level(a.page, 22)], [1, 1], "then deleted: the new owner's policy (leave)");
  });

  t.test('a pin handed from a GPIOPin to a PWMController is not released by the GPIOPin policy', async (t) => {
    await send(rig, a, 'pi-rel', [gpio('relay', { pin: 18, mode: 'output', value: 0, releasePolicy: 'input' })]);
    const got = await send(rig, a, 'pi-rel', [pwm('fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.5, implementation: 'hardware' })]);
    t.match(byName(got, 'fan'), { phase: 'Applied', actual: { channel: 'PWM0_0' } });
    t.equal(fsel(a.page, 18), 0b010, 'GPIO18 on ALT5, not made an input');
    await send(rig, a, 'pi-rel', []);
    t.same([fsel(a.page, 18), level(a.page, 18)], [1, 0], "deleted: the PWMController's policy (stop: idle low)");
  });

  t.test('an object deleted while the agent is down is released by its policy when the agent comes back', async (t) => {
    const nodeId = rig.srv.store.nodes.require('pi-rel').id;
    rig.srv.store.hardware.create(nodeId, 'gpio', 'heater', { pin: 23, mode: 'output', value: 1, releasePolicy: 'low' });
    await pushDesired(rig, a.agent, nodeId);
    t.equal(level(a.page, 23), 1);
    await a.agent.stop();
    a.chip.close();
    rig.srv.store.hardware.delete(nodeId, 'gpio', 'heater');
    const b = startAgent(t, a.stateDir, false, false);
    const first = nextApplied(b.agent, 10_000);
    b.agent.start();
    await first;
    await until(() => level(b.page, 23) === 0, 10_000);
    t.same([fsel(b.page, 23), level(b.page, 23)], [1, 0], 'GPIO23 let go low after the restart');
  });
});

t.test('PWMController releasePolicy', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-relp');
  await until(() => a.agent.connected);

  t.test('deleted: stop (the default) leaves the pin an output at its idle level; input makes it an input', async (t) => {
    const got = await send(rig, a, 'pi-relp', [
      pwm('fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.4, implementation: 'hardware', polarity: 'inversed' }),
      pwm('led', { pin: 17, frequencyHz: 1000, dutyCycle: 0.5, releasePolicy: 'input' }),
      pwm('motor', { pin: 13, frequencyHz: 20_000, dutyCycle: 0.5, implementation: 'hardware', releasePolicy: 'input' }),
    ]);
    t.match(byName(got, 'fan'), { phase: 'Applied', actual: { channel: 'PWM0_0' } });
    t.match(byName(got, 'led'), { phase: 'Applied', actual: { implementation: 'software' } });
    t.match(byName(got, 'motor'), { phase: 'Applied', actual: { channel: 'PWM0_1' } });
    await send(rig, a, 'pi-relp', []);
    t.equal(pwmCtl(a.stateDir) & 0x0101, 0, 'both channels disabled');
    t.same([fsel(a.page, 18), level(a.page, 18)], [1, 1], 'stop: an output at its idle level (inversed: high)');
    t.same([fsel(a.page, 17), pull(a.page, 17)], [0, 0], 'input (software PWM): an input without pull');
    t.same([fsel(a.page, 13), pull(a.page, 13)], [0, 0], 'input (hardware PWM): an input without pull');
  });

  t.test('moved to another pin of the same channel: the old pin released by the new spec', async (t) => {
    await send(rig, a, 'pi-relp', [pwm('fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.4, implementation: 'hardware' })]);
    t.equal(fsel(a.page, 18), 0b010);
    const moved = await send(rig, a, 'pi-relp', [
      pwm('fan', { pin: 12, frequencyHz: 25_000, dutyCycle: 0.4, implementation: 'hardware', releasePolicy: 'input' }, 2),
    ]);
    t.match(byName(moved, 'fan'), { phase: 'Applied', actual: { channel: 'PWM0_0' } });
    t.equal(fsel(a.page, 18), 0, 'GPIO18 an input');
    t.equal(fsel(a.page, 12), 0b100, 'GPIO12 on ALT0');
    t.equal(pwmCtl(a.stateDir) & 1, 1, 'the channel runs for the new pin');
  });

  t.test('changing only releasePolicy of a running software PWM does not restart it', async (t) => {
    await send(rig, a, 'pi-relp', [pwm('led', { pin: 17, frequencyHz: 1000, dutyCycle: 0.5 })]);
    a.chip.clearTrace();
    const got = await send(rig, a, 'pi-relp', [pwm('led', { pin: 17, frequencyHz: 1000, dutyCycle: 0.5, releasePolicy: 'input' }, 2)]);
    t.match(byName(got, 'led'), { phase: 'Applied', generation: 2 });
    // A restart would first put the pin at its idle level through the chip (reading its function).
    t.same(a.chip.trace(), [], 'the pin was not touched: the thread runs on');
    await send(rig, a, 'pi-relp', []);
    t.same([fsel(a.page, 17), pull(a.page, 17)], [0, 0], 'the new policy holds at delete');
  });
});

t.test('I2CDevice releasePolicy: stop (the only one): polling stops, the device is not written', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-reli', { agent: { decoderIntervalMs: 50, readingsReportMs: 100 } });
  await until(() => a.agent.connected);
  const bme = a.sensors.get('1:118') as VirtualBme280;
  const i2c = (spec: Record<string, unknown>): Item => ({ kind: 'i2c', name: 'env', generation: 1, spec });
  const got = await send(rig, a, 'pi-reli', [i2c({ bus: 1, address: 0x76, decoder: 'bme280', releasePolicy: 'stop' })]);
  t.match(byName(got, 'env'), { phase: 'Applied', actual: { readings: { temperatureC: Number } } });
  await until(() => bme.measurements >= 3, 5000);
  await send(rig, a, 'pi-reli', []);
  const n = bme.measurements;
  const regs = Buffer.from(bme.regs).toString('hex');
  await new Promise((r) => setTimeout(r, 400)); // eight decoder intervals
  t.equal(bme.measurements, n, 'no measurement after the object was deleted');
  t.equal(Buffer.from(bme.regs).toString('hex'), regs, 'no register of the device written since');

  const refused = once(a.agent, 'refused');
  rig.hub.sendRaw(
    rig.srv.store.nodes.require('pi-reli').id,
    JSON.stringify({
      v: PROTOCOL_VERSION,
      type: 'desired',
      seq: ++seq,
      items: [i2c({ bus: 1, address: 0x76, decoder: 'bme280', releasePolicy: 'leave' })],
    }),
  );
  const [r] = (await refused) as [{ reason: string; problems: { path: string }[] }];
  t.match(r, { reason: 'InvalidSpec', problems: [{ path: '/items/0/spec/releasePolicy' }] }, 'I2C has no leave');
});
