// Hardware PWM on a Pi 5 agent: the real control plane and mTLS link (rig), an agent whose chip is
// the RP1 (GPIO window and PWM0 block are register-page files; the real register code runs over
// them). The silicon is the only thing simulated. The achieved figures the agent reports must be
// what rp1PwmFromRegisters computes from the page, a re-applied spec and a restart write nothing,
// and removal or `enabled: false` stops the channel and leaves the pin at its idle level.
import t from 'tap';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AppliedItem } from '../../src/api/agent.js';
import { gpioWindowBytes } from '../../src/hw/index.js';
import { PWM_PINS, RP1_PWM_REG, rp1PwmFromRegisters } from '../../src/hw/pwm.js';
import { startRig, newAgent, startAgent, spawnAgent, enrolNode, until, nextApplied, pushDesired } from './rig.js';
import { scaled } from '../support/wait.js';

t.setTimeout(scaled(60_000));

/** One RP1 PWM0 channel and the global control as the page file holds them (PWM page at 4096). */
function rp1Page(stateDir: string, ch: number): { global: number; ctrl: number; range: number; duty: number } {
  const b = readFileSync(join(stateDir, 'pwm.sim'));
  const at = (off: number) => b.readUInt32LE(4096 + off);
  return {
    global: at(RP1_PWM_REG.GLOBAL_CTRL),
    ctrl: at(RP1_PWM_REG.chanCtrl(ch)),
    range: at(RP1_PWM_REG.range(ch)),
    duty: at(RP1_PWM_REG.duty(ch)),
  };
}
/** FUNCSEL of a bank-0 pin in the gpiomem0 page file (IO_BANK0 GPIOn_CTRL at 8n + 4, bits 4:0). */
function funcsel(page: string, pin: number): number {
  return readFileSync(page).readUInt32LE(8 * pin + 4) & 0x1f;
}
const enabled = (global: number, ch: number) => (global >>> ch) & 1;
const byName = (items: AppliedItem[], name: string) => items.find((i) => i.name === name)!;

t.test('hardware PWM on an RP1 agent', async (t) => {
  const top = t;
  const rig = await startRig(t);
  let a = await newAgent(t, rig, 'pi5', { soc: 'rp1' });
  await until(() => a.agent.connected);
  t.equal(a.chip.soc, 'rp1');
  const nodeId = rig.srv.store.nodes.require('pi5').id;
  t.equal(PWM_PINS.rp1[18], 'PWM0 ch2 (a3)', 'GPIO18 is PWM0 channel 2 on function a3');

  t.test('reports the frequency and duty its registers give', async (t) => {
    rig.srv.store.hardware.create(nodeId, 'pwm', 'fan', { pin: 18, frequencyHz: 25_000, dutyCycle: 0.4, implementation: 'hardware' });
    // 30 kHz does not divide the 50 MHz clock: the achieved frequency is not the one asked for.
    rig.srv.store.hardware.create(nodeId, 'pwm', 'pump', { pin: 12, frequencyHz: 30_000, dutyCycle: 0.25, polarity: 'inversed' });
    const got = await pushDesired(rig, a.agent, nodeId);
    const fan = byName(got, 'fan'),
      pump = byName(got, 'pump');
    t.match(fan, { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_2', enabled: true, polarity: 'normal' } });
    t.match(
      pump,
      { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_0', enabled: true, polarity: 'inversed' } },
      'auto on GPIO12 is hardware',
    );
    for (const [item, ch, f, d] of [
      [fan, 2, 25_000, 0.4],
      [pump, 0, 30_000, 0.25],
    ] as const) {
      const regs = rp1Page(a.stateDir, ch);
      const fromPage = rp1PwmFromRegisters(regs);
      t.equal(
        item.actual!.frequencyHz,
        fromPage.frequencyHz,
        `${item.name}: reported = computed from the page (${fromPage.frequencyHz} Hz, RANGE ${regs.range})`,
      );
      t.equal(item.actual!.dutyCycle, fromPage.duty, `${item.name}: duty from the page (DUTY ${regs.duty})`);
      t.equal(item.actual!.range, regs.range + 1, 'range reported as ticks a period (RANGE + 1)');
      t.ok(Math.abs(fromPage.frequencyHz - f) <= f / (regs.range + 1), `${item.name}: within one tick of ${f} Hz`);
      t.ok(Math.abs(fromPage.duty - d) <= 1 / (regs.range + 1), `${item.name}: duty within one tick`);
      t.equal(enabled(regs.global, ch), 1, `channel ${ch} enabled`);
      t.equal(regs.ctrl & 0x7, 1, 'trailing-edge mark-space mode');
    }
    t.not(byName(got, 'pump').actual!.frequencyHz, 30_000, 'the achieved 30 kHz is reported, not the one asked for');
    t.equal(rp1Page(a.stateDir, 2).ctrl & 0x8, 0, 'fan: not inverted');
    t.equal(rp1Page(a.stateDir, 0).ctrl & 0x8, 0x8, 'pump: INVERT set');
    t.equal(funcsel(a.page, 18), 3, 'GPIO18 on a3 in the gpiomem0 page');
    t.equal(funcsel(a.page, 12), 0, 'GPIO12 on a0');
    await until(() => rig.srv.store.hardware.require(nodeId, 'pwm', 'fan').status.observedGeneration === 1);
    t.match(
      rig.srv.store.hardware.require(nodeId, 'pwm', 'fan').status,
      { phase: 'Applied', actual: { frequencyHz: rp1PwmFromRegisters(rp1Page(a.stateDir, 2)).frequencyHz } },
      'status reached the control plane',
    );
  });

  t.test('the same spec again, and an agent restart, write no register', async (t) => {
    const hw = a.pwm()!;
    hw.clearTrace();
    const pwmBefore = readFileSync(join(a.stateDir, 'pwm.sim'));
    const again = await pushDesired(rig, a.agent, nodeId);
    t.match(byName(again, 'fan'), { phase: 'Applied', actual: { frequencyHz: 25_000 } });
    t.same(
      hw.trace().filter((e) => e.op === 'write'),
      [],
      're-applying writes no PWM or GPIO register',
    );
    t.ok(readFileSync(join(a.stateDir, 'pwm.sim')).equals(pwmBefore), 'PWM page unchanged');

    await a.agent.stop();
    a.chip.close();
    const gpioBefore = readFileSync(a.page);
    // Torn down with the whole test, not this subtest: the next one uses it.
    const b = startAgent(top, a.stateDir, false, false, {}, 'rp1');
    const reconciled = nextApplied(b.agent);
    b.agent.start();
    const got = await reconciled;
    t.equal(
      byName(got, 'fan').actual!.frequencyHz,
      rp1PwmFromRegisters(rp1Page(a.stateDir, 2)).frequencyHz,
      'the same achieved frequency after restart',
    );
    t.same(
      b
        .pwm()!
        .trace()
        .filter((e) => e.op === 'write'),
      [],
      'no register written across restart and reconcile',
    );
    t.equal(b.chip.trace().filter((e) => e.op === 'write').length, 0, 'no GPIO write through the chip either');
    t.ok(readFileSync(join(a.stateDir, 'pwm.sim')).equals(pwmBefore), 'PWM page unchanged');
    t.ok(readFileSync(a.page).equals(gpioBefore), 'gpiomem0 page unchanged');
    a = b;
    await until(() => a.agent.connected);
  });

  t.test('enabled: false and removal stop the channel and leave the pin at its idle level', async (t) => {
    rig.srv.store.hardware.replace(nodeId, 'pwm', 'pump', {
      pin: 12,
      frequencyHz: 30_000,
      dutyCycle: 0.25,
      polarity: 'inversed',
      enabled: false,
    });
    const off = byName(await pushDesired(rig, a.agent, nodeId), 'pump');
    t.match(
      off,
      { phase: 'Applied', actual: { implementation: 'hardware', channel: 'PWM0_0', enabled: false, level: 1 } },
      'disabled: idle level (inversed: high)',
    );
    t.equal(enabled(rp1Page(a.stateDir, 0).global, 0), 0, 'channel 0 disabled');
    t.equal(enabled(rp1Page(a.stateDir, 2).global, 2), 1, 'channel 2 still runs');
    t.equal(a.chip.getMode(12), 'output', 'GPIO12 an output');
    t.equal(a.chip.read(12), 1);

    rig.srv.store.hardware.delete(nodeId, 'pwm', 'fan');
    const left = await pushDesired(rig, a.agent, nodeId);
    t.notOk(
      left.some((i) => i.name === 'fan'),
      'no report for the removed object',
    );
    t.equal(enabled(rp1Page(a.stateDir, 2).global, 2), 0, 'channel 2 disabled');
    t.equal(a.chip.getMode(18), 'output', 'GPIO18 left an output (SYS_RIO), not on the PWM function');
    t.equal(funcsel(a.page, 18), 5, 'FUNCSEL a5 (SYS_RIO)');
    t.equal(a.chip.read(18), 0, '... at its idle level (low)');
  });
});

t.test('a real agent process with --sim --soc rp1 creates the gpiomem0-sized page and drives PWM0', async (t) => {
  const rig = await startRig(t);
  const { stateDir, nodeId } = await enrolNode(t, rig, 'pi5-proc');
  rig.srv.store.hardware.create(nodeId, 'pwm', 'fan', { pin: 19, frequencyHz: 20_000, dutyCycle: 0.5 });
  const { child, stderr } = spawnAgent(t, ['--sim', '--soc', 'rp1', '--state-dir', stateDir]);
  const status = () => rig.srv.store.hardware.require(nodeId, 'pwm', 'fan').status;
  await until(() => status().phase === 'Applied', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; agent stderr: ${stderr()}`);
  });
  t.equal(statSync(join(stateDir, 'gpiomem.sim')).size, gpioWindowBytes('rp1'), 'the page file is the size of the gpiomem0 window');
  const regs = rp1Page(stateDir, 3);
  t.match(
    status().actual,
    {
      implementation: 'hardware',
      channel: 'PWM0_3',
      frequencyHz: rp1PwmFromRegisters(regs).frequencyHz,
      dutyCycle: rp1PwmFromRegisters(regs).duty,
    },
    'GPIO19 on channel 3, as the page gives it',
  );
  t.equal(funcsel(join(stateDir, 'gpiomem.sim'), 19), 3, 'GPIO19 on a3');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'SIGTERM: clean exit');
  t.equal(enabled(rp1Page(stateDir, 3).global, 3), 1, 'hardware PWM keeps running after the agent stopped');
});
