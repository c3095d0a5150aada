// The agent drives PWM and polls I2C: the real control plane and mTLS link (rig), agents whose
// GPIO and PWM registers are page files (the real register code runs over them) and whose I2C
// buses carry behavioural sensor models. The silicon is the only thing simulated.
import t from 'tap';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type AppliedItem } from '../../src/api/agent.js';
import { bcmPwmFromRegisters, CM_REG, PWM_REG } from '../../src/hw/pwm.js';
import { VirtualBme280 } from '../../src/hw/devices/virtual-bme280.js';
import type { VirtualAds1115 } from '../../src/hw/devices/ads1115.js';
import { readSimI2c } from '../../agent/backends.js';
import { pwmRoute } from '../../agent/pwm.js';
import { startRig, newAgent, startAgent, spawnAgent, enrolNode, until, nextApplied, pushDesired, type Rig, type TestAgent } from './rig.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(120_000));

/** The PWM channel 0 registers and the clock as the page file holds them (CM page at 0, PWM page at 4096). */
function pwmPage(stateDir: string, ch = 0): { cmCtl: number; cmDiv: number; rng: number; dat: number; ctl: number } {
  const b = readFileSync(join(stateDir, 'pwm.sim'));
  return {
    cmCtl: b.readUInt32LE(CM_REG.PWMCTL),
    cmDiv: b.readUInt32LE(CM_REG.PWMDIV),
    rng: b.readUInt32LE(4096 + (ch ? PWM_REG.RNG2 : PWM_REG.RNG1)),
    dat: b.readUInt32LE(4096 + (ch ? PWM_REG.DAT2 : PWM_REG.DAT1)),
    ctl: b.readUInt32LE(4096 + PWM_REG.CTL),
  };
}
/** GPFSEL field of a pin in the GPIO page file: 0 input, 1 output, 0b010 ALT5, 0b100 ALT0. */
function fsel(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(4 * Math.floor(pin / 10)) >>> (3 * (pin % 10))) & 7;
}
function level(page: string, pin: number): number {
  return (readFileSync(page).readUInt32LE(0x34) >>> pin) & 1;
}

type Item = { kind: 'gpio' | 'pwm' | 'i2c'; name: string; generation: number; spec: Record<string, unknown> };
let seq = 100;
/** Sends a desired snapshot straight down the link; resolves with the agent's report. */
async function send(rig: Rig, a: TestAgent, node: string, items: Item[]): Promise<AppliedItem[]> {
  const applied = nextApplied(a.agent);
  rig.hub.sendRaw(rig.srv.store.nodes.require(node).id, JSON.stringify({ v: PROTOCOL_VERSION, type: 'desired', seq: ++seq, items }));
  return applied;
}
const byName = (items: AppliedItem[], name: string) => items.find((i) => i.name === name);

t.test('PWM in the agent', async (t) => {
  t.test('hardware PWM at 25 kHz: the achieved frequency is the one the register page gives', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-pwm');
    await until(() => a.agent.connected);
    const nodeId = rig.srv.store.nodes.require('pi-pwm').id;
    rig.srv.store.hardware.create(nodeId, 'pwm', 'fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.4, implementation: 'hardware' });
    const applied = pushDesired(rig, a.agent, nodeId);
    const fan = byName(await applied, 'fan')!;
    t.match(fan, { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_0', enabled: true, polarity: 'normal' } });
    const regs = pwmPage(a.stateDir);
    const fromPage = bcmPwmFromRegisters('bcm2711', regs);
    t.equal(fan.actual!.frequencyHz, fromPage.frequencyHz, `reported = computed from the page (${fromPage.frequencyHz} Hz)`);
    t.equal(fan.actual!.dutyCycle, fromPage.duty, 'duty from the page');
    // One range step more or less is the next frequency the divisor and range can give.
    t.ok(Math.abs(fromPage.frequencyHz - 25_000) <= 25_000 / regs.rng, `within one range step of 25 kHz (range ${regs.rng})`);
    t.ok(Math.abs(fromPage.duty - 0.4) <= 1 / regs.rng, 'duty within one tick');
    t.equal(regs.ctl & 0xff, 0x81, 'channel 1 enabled in mark-space mode (MSEN | PWEN)');
    t.equal(fsel(a.page, 18), 0b010, 'GPIO18 on ALT5 in the GPIO page');
    await until(() => rig.srv.store.hardware.require(nodeId, 'pwm', 'fan').status.observedGeneration === 1);
    t.match(
      rig.srv.store.hardware.require(nodeId, 'pwm', 'fan').status,
      { phase: 'Applied', actual: { frequencyHz: fromPage.frequencyHz } },
      'status reached the control plane',
    );

    // Restart: a new agent maps the same pages and must write no PWM register.
    const before = readFileSync(join(a.stateDir, 'pwm.sim'));
    const gpioBefore = readFileSync(a.page);
    await a.agent.stop();
    a.chip.close();
    const again = startAgent(t, a.stateDir, false, false);
    const reconciled = nextApplied(again.agent);
    again.agent.start();
    const fan2 = byName(await reconciled, 'fan')!;
    t.equal(fan2.actual!.frequencyHz, fromPage.frequencyHz, 'the same achieved frequency after restart');
    t.ok(again.pwm(), 'the restarted agent opened the PWM registers (to compare)');
    t.same(
      again
        .pwm()!
        .trace()
        .filter((e) => e.op === 'write'),
      [],
      'no PWM, clock or GPIO register written across restart and reconcile',
    );
    t.ok(readFileSync(join(a.stateDir, 'pwm.sim')).equals(before), 'PWM and clock pages unchanged');
    t.equal(again.chip.trace().filter((e) => e.op === 'write').length, 0, 'no GPIO write through the chip either');
    t.ok(readFileSync(again.page).equals(gpioBefore), 'GPIO page unchanged');

    // A new duty is a write; the same spec again is not.
    rig.srv.store.hardware.replace(nodeId, 'pwm', 'fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.75, implementation: 'hardware' });
    const p3 = pushDesired(rig, again.agent, nodeId);
    const fan3 = byName(await p3, 'fan')!;
    t.equal(fan3.actual!.dutyCycle, bcmPwmFromRegisters('bcm2711', pwmPage(a.stateDir)).duty);
    t.ok(Math.abs((fan3.actual!.dutyCycle as number) - 0.75) <= 1 / pwmPage(a.stateDir).rng, 'new duty applied');
    again.pwm()!.clearTrace();
    const p4 = pushDesired(rig, again.agent, nodeId);
    await p4;
    t.same(
      again
        .pwm()!
        .trace()
        .filter((e) => e.op === 'write'),
      [],
      're-applying the same spec writes nothing',
    );

    // A second channel after the restart shares the clock the first still runs on. 54 kHz alone
    // would get its own clock (54 MHz / 2, exact), which would retune GPIO18's output; the
    // restarted driver takes over the running clock instead and gets within 0.1 %.
    const clockBefore = pwmPage(a.stateDir);
    t.not(
      again.pwm()!.solve(13, 54_000, 0.5).clockHz,
      bcmPwmFromRegisters('bcm2711', { ...clockBefore, rng: 1, dat: 0 }).frequencyHz,
      'alone, 54 kHz would take another clock',
    );
    again.pwm()!.clearTrace();
    rig.srv.store.hardware.create(nodeId, 'pwm', 'pump', { pin: 13, frequencyHz: 54_000, dutyCycle: 0.5, implementation: 'hardware' });
    const p5 = pushDesired(rig, again.agent, nodeId);
    const five = await p5;
    t.match(byName(five, 'pump'), { phase: 'Applied', actual: { channel: 'PWM0_1' } });
    const pump = byName(five, 'pump')!.actual!.frequencyHz as number;
    t.ok(Math.abs(pump - 54_000) / 54_000 <= 1e-3, `pump at ${pump} Hz on the shared clock`);
    t.equal(pump, bcmPwmFromRegisters('bcm2711', pwmPage(a.stateDir, 1)).frequencyHz, 'as its registers give it');
    t.notOk(
      again
        .pwm()!
        .trace()
        .some((e) => e.op === 'write' && e.block === 'CM'),
      'the running clock was not touched',
    );
    t.equal(byName(five, 'fan')!.actual!.frequencyHz, fromPage.frequencyHz, 'GPIO18 still at its frequency');
    t.equal(bcmPwmFromRegisters('bcm2711', pwmPage(a.stateDir)).frequencyHz, fromPage.frequencyHz);
  });

  t.test('software PWM, channel conflicts, missing hardware PWM, enabled: false, removal', async (t) => {
    const rig = await startRig(t);
    const a = await newAgent(t, rig, 'pi-sw');
    await until(() => a.agent.connected);
    const pwm = (name: string, spec: Record<string, unknown>): Item => ({ kind: 'pwm', name, generation: 1, spec });
    const got = await send(rig, a, 'pi-sw', [
      pwm('led', { pin: 17, frequencyHz: 1000, dutyCycle: 0.25 }),
      pwm('a-motor', { pin: 12, frequencyHz: 20_000, dutyCycle: 0.5 }),
      pwm('b-motor', { pin: 18, frequencyHz: 20_000, dutyCycle: 0.5, implementation: 'hardware' }),
      pwm('nohw', { pin: 22, frequencyHz: 100, dutyCycle: 0.5, implementation: 'hardware' }),
      pwm('off', { pin: 13, frequencyHz: 100, dutyCycle: 0.5, enabled: false, polarity: 'inversed' }),
    ]);
    t.match(
      byName(got, 'led'),
      {
        phase: 'Applied',
        actual: { implementation: 'software', frequencyHz: 1000, dutyCycle: 0.25, periodNs: 1_000_000, activeNs: 250_000 },
      },
      'auto on a pin without hardware PWM is software',
    );
    t.equal(fsel(a.page, 17), 1, 'the software PWM pin is an output');
    t.match(
      byName(got, 'a-motor'),
      { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_0' } },
      'auto on GPIO12 is hardware',
    );
    t.match(byName(got, 'b-motor'), {
      phase: 'Failed',
      reason: 'ChannelBusy',
      actual: { message: /PWM0_0 \(GPIO18\) is already driven by PWMController a-motor on GPIO12/ },
    });
    t.not(fsel(a.page, 18), 0b010, 'the refused object did not route GPIO18 to the channel');
    t.match(byName(got, 'nohw'), {
      phase: 'Failed',
      reason: 'NoHardwarePwm',
      actual: { message: /GPIO22 has no hardware PWM on bcm2711/ },
    });
    t.equal(fsel(a.page, 22), 0, 'GPIO22 untouched');
    t.match(
      byName(got, 'off'),
      { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_1', enabled: false, level: 1 } },
      'disabled: idle level (inversed: high)',
    );
    t.equal(fsel(a.page, 13), 1, 'disabled output is a driven output at its idle level');
    t.equal(level(a.page, 13), 1);

    // A pin claimed by a GPIOPin and a PWMController: PinBusy for the second in name order.
    const busy = await send(rig, a, 'pi-sw', [
      { kind: 'gpio', name: 'a-relay', generation: 1, spec: { pin: 12, mode: 'output', value: 1 } },
      pwm('a-motor', { pin: 12, frequencyHz: 20_000, dutyCycle: 0.5 }),
    ]);
    t.match(byName(busy, 'a-motor'), { phase: 'Failed', reason: 'PinBusy' });
    t.match(
      byName(busy, 'a-relay'),
      { phase: 'Applied', actual: { level: 1 } },
      'the channel was released and the pin handed to the GPIOPin',
    );
    t.equal(pwmPage(a.stateDir).ctl & 1, 0, 'PWM0 channel 1 disabled');
    t.equal(fsel(a.page, 12), 1, 'GPIO12 an output');
    t.equal(level(a.page, 12), 1);
    t.equal(fsel(a.page, 17), 1, 'removed software PWM: pin left an output');
    t.equal(level(a.page, 17), 0, '... at its idle level (low)');
    // GPIO18 takes the freed channel.
    const moved = await send(rig, a, 'pi-sw', [
      pwm('b-motor', { pin: 18, frequencyHz: 20_000, dutyCycle: 0.5, implementation: 'hardware' }),
    ]);
    t.match(byName(moved, 'b-motor'), { phase: 'Applied', actual: { channel: 'PWM0_0', frequencyHz: 20_000 } });
    t.equal(fsel(a.page, 18), 0b010);
    t.equal(fsel(a.page, 12), 1, 'GPIO12 released as an output (no longer claimed, left as it was)');
  });

  t.test('PWM_PINS labels map to channels', async (t) => {
    t.same(pwmRoute('bcm2711', 18), { block: 'PWM0', channel: 0, id: 'PWM0_0', fsel: 0b010 });
    t.same(pwmRoute('bcm2711', 41), { block: 'PWM1', channel: 1, id: 'PWM1_1', fsel: 0b100 });
    t.same(pwmRoute('bcm2837', 45), { block: 'PWM0', channel: 1, id: 'PWM0_1', fsel: 0b100 });
    t.same(pwmRoute('rp1', 18), { block: 'RP1_PWM0', channel: 2, id: 'PWM0_2', fsel: 3 });
    t.equal(pwmRoute('bcm2711', 17), undefined);
  });
});

t.test('I2C in the agent', async (t) => {
  const rig = await startRig(t);
  const a = await newAgent(t, rig, 'pi-i2c', { agent: { decoderIntervalMs: 50, readingsReportMs: 100 } });
  await until(() => a.agent.connected);
  const nodeId = rig.srv.store.nodes.require('pi-i2c').id;
  const bme = a.sensors.get('1:118') as VirtualBme280;
  const adc = a.sensors.get('1:72') as VirtualAds1115;
  t.ok(bme instanceof VirtualBme280, 'a BME280 model at 0x76 on bus 1 by default');

  t.test('bme280 and ads1115 decoded, raw registers, NACK and unknown decoder', async (t) => {
    for (const [name, spec] of [
      [
        'env',
        {
          bus: 1,
          address: 0x76,
          decoder: 'bme280',
          registers: [
            { name: 'chipId', register: 0xd0, type: 'u8', pollIntervalMs: 20 },
            { name: 'digT1', register: 0x88, type: 'u16le', pollIntervalMs: 20, scale: 0.5 },
          ],
        },
      ],
      ['adc', { bus: 1, address: 0x48, decoder: 'ads1115' }],
      ['ghost', { bus: 1, address: 0x77, decoder: 'bme280' }],
      ['odd', { bus: 1, address: 0x50, decoder: 'no-such-chip' }],
      ['nobus', { bus: 7, address: 0x20, registers: [{ name: 'x', register: 0, type: 'u8', pollIntervalMs: 100 }] }],
    ] as const)
      rig.srv.store.hardware.create(nodeId, 'i2c', name, spec as never);
    const applied = pushDesired(rig, a.agent, nodeId);
    const got = await applied;
    const env = byName(got, 'env')!;
    t.match(
      env,
      { phase: 'Applied', actual: { bus: 1, address: 0x76, decoder: 'bme280', readAt: /^\d{4}-/ } },
      'read before it was reported',
    );
    const r = env.actual!.readings as Record<string, number>;
    t.ok(Math.abs(r.temperatureC! - bme.env.temperatureC) <= 0.01, `temperature ${r.temperatureC} °C (model: ${bme.env.temperatureC})`);
    t.ok(Math.abs(r.pressureHPa! - bme.env.pressurePa / 100) <= 0.01, `pressure ${r.pressureHPa} hPa`);
    t.ok(Math.abs(r.humidityPercent! - bme.env.humidityPercent) <= 0.01, `humidity ${r.humidityPercent} %`);
    t.equal(r.chipId, 0x60, 'raw u8 register: the chip ID');
    t.equal(r.digT1, bme.calibration.T1 * 0.5, 'raw u16le register times its scale');
    const v = byName(got, 'adc')!.actual!.readings as Record<string, number>;
    for (let i = 0; i < 4; i++)
      t.ok(Math.abs(v[`ain${i}Volts`]! - adc.inputs[i]!) <= 4.096 / 32768, `AIN${i} ${v[`ain${i}Volts`]} V (model ${adc.inputs[i]})`);
    t.match(byName(got, 'ghost'), {
      phase: 'Failed',
      reason: 'DeviceNotFound',
      actual: { message: /no device acknowledged 0x77 on I2C bus 1 \(ENXIO\)/ },
    });
    t.match(byName(got, 'odd'), { phase: 'Failed', reason: 'InvalidSpec', actual: { message: /unknown decoder "no-such-chip"/ } });
    t.match(byName(got, 'nobus'), { phase: 'Failed', reason: 'DeviceNotFound', actual: { message: /bus 7/ } });
    await until(() => rig.srv.store.hardware.require(nodeId, 'i2c', 'env').status.observedGeneration === 1);
  });

  t.test('a changed environment reaches the store and the event bus; removal stops polling', async (t) => {
    const events: { name: string; readings: Record<string, unknown> }[] = [];
    rig.bus.on('test', 'i2c.reading', (e) => events.push(e.data));
    t.teardown(() => rig.bus.removeOwner('test'));
    bme.env = { temperatureC: 30.25, pressurePa: 95_000, humidityPercent: 60 };
    await until(
      () =>
        (rig.srv.store.hardware.require(nodeId, 'i2c', 'env').status.actual?.readings as { temperatureC?: number } | undefined)
          ?.temperatureC === 30.25,
    );
    t.pass('status readings follow the model (30.25 °C)');
    await until(() => events.some((e) => e.name === 'env' && e.readings.temperatureC === 30.25));
    t.pass('i2c.reading on the event bus');
    // Removal: the device is no longer read.
    rig.srv.store.hardware.delete(nodeId, 'i2c', 'env');
    const p = pushDesired(rig, a.agent, nodeId);
    await p;
    const n = bme.measurements;
    await new Promise((r) => setTimeout(r, 300)); // six decoder intervals
    t.equal(bme.measurements, n, 'no measurement after the object was removed');
    t.ok(adc.conversions > 0, 'the other device on the bus is still polled');
  });
});

t.test('a real agent process (pi-controller agent --sim --sim-i2c) drives PWM and reads its configured sensor', async (t) => {
  const rig = await startRig(t);
  const { stateDir, nodeId } = await enrolNode(t, rig, 'pi-proc');
  rig.srv.store.hardware.create(nodeId, 'pwm', 'fan', { pin: 12, frequencyHz: 25_000, dutyCycle: 0.25 });
  rig.srv.store.hardware.create(nodeId, 'i2c', 'env', { bus: 3, address: 0x77, decoder: 'bme280' });
  const sensors = join(stateDir, 'sensors.json');
  writeFileSync(sensors, JSON.stringify({ 3: { '0x77': { type: 'bme280', temperatureC: 30.5, humidityPercent: 20 } } }));
  const args = ['--sim', '--state-dir', stateDir, '--sim-i2c', sensors];
  const { child, stderr } = spawnAgent(t, args);
  const status = (kind: 'pwm' | 'i2c', name: string) => rig.srv.store.hardware.require(nodeId, kind, name).status;
  await until(() => status('pwm', 'fan').phase === 'Applied' && status('i2c', 'env').phase === 'Applied', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; agent stderr: ${stderr()}`);
  });
  const regs = pwmPage(stateDir);
  t.match(
    status('pwm', 'fan').actual,
    { implementation: 'hardware', channel: 'PWM0_0', frequencyHz: bcmPwmFromRegisters('bcm2711', regs).frequencyHz },
    "achieved frequency as the process's register page gives it",
  );
  t.equal(fsel(join(stateDir, 'gpiomem.sim'), 12), 0b100, 'GPIO12 on ALT0 in the page file');
  const r = status('i2c', 'env').actual!.readings as { temperatureC: number; humidityPercent: number };
  t.ok(
    Math.abs(r.temperatureC - 30.5) <= 0.01 && Math.abs(r.humidityPercent - 20) <= 0.01,
    `the configured sensor read: ${r.temperatureC} °C, ${r.humidityPercent} %`,
  );
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'SIGTERM: clean exit');
  t.equal(pwmPage(stateDir).ctl & 1, 1, 'hardware PWM keeps running after the agent stopped');

  // A bad sensor file is refused at start, naming the problem.
  writeFileSync(sensors, JSON.stringify({ 3: { '0x77': { type: 'bmp180' } } }));
  const bad = spawnAgent(t, args);
  const [badCode] = (await once(bad.child, 'exit')) as [number | null];
  t.not(badCode, 0);
  t.match(bad.stderr(), /SIM_I2C_INVALID/);
});

t.test('simulated I2C configuration file', async (t) => {
  const dir = tempDir(t, 'pic-simi2c-');
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ 3: { '0x77': { type: 'bme280', temperatureC: -5 } } }));
  t.same(readSimI2c(good), { 3: { '0x77': { type: 'bme280', temperatureC: -5 } } });
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ 1: { '0x76': { type: 'sht31' }, '200': { type: 'ads1115' } }, 40: {} }));
  t.throws(() => readSimI2c(bad), { code: 'SIM_I2C_INVALID', message: /\/1\/0x76/ });
  writeFileSync(bad, JSON.stringify({ 1: { '200': { type: 'ads1115' } } }));
  t.throws(() => readSimI2c(bad), { code: 'SIM_I2C_INVALID', message: /200: not a 7-bit device address/ });
});
