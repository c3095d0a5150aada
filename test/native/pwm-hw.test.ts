// Hardware PWM over the behavioural models (the silicon cannot exist here): the exact register
// sequence per SoC, the frequency the written registers give, and bad input that writes nothing.
import t from 'tap';
import {
  openHardwarePwm,
  bcmPwmFromRegisters,
  rp1PwmFromRegisters,
  CM_PASSWD,
  CM_REG,
  PWM_REG,
  RP1_PWM_REG,
  type PwmTraceEntry,
} from '../../src/hw/pwm.js';

const acc = (tr: PwmTraceEntry[]) => tr.map((e) => [e.op, e.block, e.offset, e.value]);
const GPFSEL1 = 0x04;
const KILL = 1 << 5,
  ENAB = 1 << 4,
  BUSY = 1 << 7;
const MSEN1 = 1 << 7,
  PWEN1 = 1,
  POLA1 = 1 << 4;

t.test('bcm2835: 1 kHz 25% on GPIO18 (ALT5), PLLD 500 MHz / 4, the longest exact range', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2835', simulate: true, trace: true });
  const r = pwm.start(18, 1000, 0.25);
  t.equal(r.frequencyHz, 1000, 'exact');
  t.equal(r.duty, 0.25);
  // 500 MHz / 4 / 125000 is exact, with the longest range (finest duty) of the clocks <= 125 MHz.
  t.match(r, { source: 'plld', divisor: 4, clockHz: 125e6, steps: 125000, highTicks: 31250 });
  t.same(
    acc(pwm.trace()),
    [
      ['read', 'PWM0', PWM_REG.CTL, 0],
      ['write', 'PWM0', PWM_REG.CTL, 0],
      ['read', 'CM', CM_REG.PWMCTL, 0],
      ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD],
      ['read', 'CM', CM_REG.PWMCTL, 0],
      ['write', 'CM', CM_REG.PWMDIV, CM_PASSWD | (4 << 12)],
      ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD | 6],
      ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD | 6 | ENAB],
      ['write', 'PWM0', PWM_REG.RNG1, 125000],
      ['write', 'PWM0', PWM_REG.DAT1, 31250],
      ['write', 'PWM0', PWM_REG.CTL, MSEN1 | PWEN1],
      ['read', 'GPIO', GPFSEL1, 0],
      ['write', 'GPIO', GPFSEL1, 0b010 << 24],
    ],
    'channel off, clock stopped (ENAB clear), BUSY clear, divisor, source, enable, range, data, M/S + enable, ALT5 last',
  );
  t.match(pwm.modelState(), { clockRunning: true, clockSource: 6, clockDivisor: 4, violations: 0, badPassword: 0 });
  pwm.close();
});

t.test('bcm2711: retune stops the clock with ENAB cleared and waits for BUSY; channel 2 inverted shares the clock', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2711', simulate: true, trace: true });
  pwm.start(12, 1000, 0.5);
  pwm.clearTrace();
  // A new clock: the running generator must be stopped and BUSY waited out (the model holds BUSY
  // for two reads, so a driver that does not poll is caught as a violation).
  const r = pwm.start(12, 30_000, 0.5);
  const tr = acc(pwm.trace());
  const cmReads = tr.filter((e) => e[0] === 'read' && e[1] === 'CM');
  t.same(
    cmReads.map((e) => (e[3] as number) & BUSY),
    [BUSY, BUSY, BUSY, 0],
    'BUSY (running), then polled until clear',
  );
  t.same(tr[3], ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD | 6], 'the stop clears ENAB and keeps the running source (PLLD)');
  t.same(
    tr.slice(4, 9).map((e) => e[0]),
    ['read', 'delay', 'read', 'delay', 'read'],
    'BUSY polled 1 us apart',
  );
  t.same(tr[9], ['write', 'CM', CM_REG.PWMDIV, CM_PASSWD | (r.divisor << 12)], 'the divisor once BUSY reads clear');
  t.notOk(
    tr.some((e) => e[0] === 'write' && e[1] === 'CM' && ((e[3] as number) & KILL) !== 0),
    'no KILL',
  );
  t.ok(
    tr.every((e) => e[0] !== 'write' || e[1] !== 'CM' || ((e[3] as number) & 0xff00_0000) === CM_PASSWD),
    'every clock manager write carries the password',
  );
  t.match(pwm.modelState(), { violations: 0, kills: 0, badPassword: 0 }, 'no divisor or source change while BUSY');
  t.equal(r.frequencyHz, 30_000);
  // Channel 2 (GPIO13) while channel 1 runs: same clock, range only.
  pwm.clearTrace();
  const r2 = pwm.start(13, 10_000, 0.1, { inverted: true });
  t.notOk(
    pwm.trace().some((e) => e.block === 'CM'),
    'the shared clock is left alone',
  );
  t.equal(r2.clockHz, r.clockHz);
  t.equal(r2.frequencyHz, 10_000);
  const ctl = pwm.peek('PWM0', PWM_REG.CTL);
  t.equal(ctl, MSEN1 | PWEN1 | ((MSEN1 | PWEN1 | POLA1) << 8), 'both channels M/S, channel 2 inverted');
  t.throws(() => pwm.start(13, 23.9e6, 0.5), { code: 'EPWM_CLOCK' }, 'out of reach of the running clock');
  pwm.close();
});

t.test('bcm2711: 54 MHz oscillator and 750 MHz PLLD (a 19.2 MHz assumption is 2.8125x off)', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2711', simulate: true });
  for (const f of [1, 50, 1000, 19_200, 100_000, 1_000_000, 10_000_000]) {
    const r = pwm.start(18, f, 0.5);
    const regs = {
      cmCtl: pwm.peek('CM', CM_REG.PWMCTL),
      cmDiv: pwm.peek('CM', CM_REG.PWMDIV),
      rng: pwm.peek('PWM0', PWM_REG.RNG1),
      dat: pwm.peek('PWM0', PWM_REG.DAT1),
    };
    const got = bcmPwmFromRegisters('bcm2711', regs);
    t.ok(Math.abs(got.frequencyHz - f) / f <= 1e-3, `${f} Hz from the registers: ${got.frequencyHz}`);
    t.equal(got.frequencyHz, r.frequencyHz, 'reported = computed from the registers');
    t.ok(Math.abs(got.duty - 0.5) <= 1 / regs.rng, 'duty');
    t.not(bcmPwmFromRegisters('bcm2835', regs).frequencyHz, got.frequencyHz, "the other SoC's clocks give another frequency");
  }
  t.equal(pwm.modelState()?.violations, 0);
  pwm.close();
});

t.test('bcm2711: GPIO40 goes to PWM1; GPIO13 ALT0', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2711', simulate: true, trace: true });
  pwm.start(40, 2000, 0.5);
  t.ok(
    pwm.trace().some((e) => e.block === 'PWM1' && e.offset === PWM_REG.RNG1),
    'PWM1 channel 1',
  );
  t.equal(pwm.peek('GPIO', 0x10) & 7, 0b100, 'GPIO40 ALT0');
  pwm.close();
});

t.test('rp1: 50 MHz PWM0, RANGE = ticks - 1, SET_UPDATE, ALT routing', async (t) => {
  const pwm = openHardwarePwm({ soc: 'rp1', simulate: true, trace: true });
  const r = pwm.start(12, 20_000, 0.3);
  t.match(r, { frequencyHz: 20_000, steps: 2500, highTicks: 750, source: 'fixed' });
  t.same(
    acc(pwm.trace()),
    [
      ['read', 'RP1_PWM0', RP1_PWM_REG.chanCtrl(0), 0],
      ['write', 'RP1_PWM0', RP1_PWM_REG.chanCtrl(0), (1 << 8) | 1],
      ['write', 'RP1_PWM0', RP1_PWM_REG.range(0), 2499],
      ['write', 'RP1_PWM0', RP1_PWM_REG.duty(0), 750],
      ['read', 'RP1_PWM0', RP1_PWM_REG.GLOBAL_CTRL, 0],
      ['write', 'RP1_PWM0', RP1_PWM_REG.GLOBAL_CTRL, 0x8000_0001],
      ['read', 'PADS_BANK0', 4 + 4 * 12, 0],
      ['write', 'PADS_BANK0', 4 + 4 * 12, 1 << 6],
      ['read', 'IO_BANK0', 8 * 12 + 4, 0],
      ['write', 'IO_BANK0', 8 * 12 + 4, 0],
    ],
    'mode trailing-edge M/S, range, duty, enable + SET_UPDATE, then pad and FUNCSEL a0',
  );
  const st = pwm.modelState();
  t.equal(st?.updates, 1);
  const ch0 = st!.channels![0]!;
  t.same(rp1PwmFromRegisters(ch0), { frequencyHz: 20_000, duty: 0.3 }, 'output from the latched registers');
  pwm.clearTrace();
  pwm.start(18, 1000, 0.5, { inverted: true });
  const tr = pwm.trace();
  t.ok(
    tr.some((e) => e.block === 'RP1_PWM0' && e.offset === RP1_PWM_REG.chanCtrl(2) && e.op === 'write' && (e.value & 8) !== 0),
    'GPIO18 is channel 2, inverted',
  );
  t.same(tr.at(-1), { seq: tr.length - 1, op: 'write', block: 'IO_BANK0', offset: 8 * 18 + 4, value: 3 }, 'GPIO18 FUNCSEL a3');
  for (const f of [1, 333, 12_345, 1_000_000, 10_000_000]) {
    pwm.start(13, f, 0.5);
    const c = pwm.modelState()!.channels![1]!;
    const got = rp1PwmFromRegisters(c).frequencyHz;
    t.ok(Math.abs(got - f) / f <= 1e-3, `${f} Hz within 0.1% (${got})`);
  }
  pwm.close();
});

t.test('bad input: coded errors, nothing written', async (t) => {
  for (const soc of ['bcm2835', 'bcm2711', 'rp1'] as const) {
    const pwm = openHardwarePwm({ soc, simulate: true, trace: true });
    t.throws(() => pwm.start(17, 1000, 0.5), { code: 'EPWM_PIN' }, `${soc}: GPIO17 has no hardware PWM`);
    t.throws(() => pwm.start(12, 0, 0.5), { code: 'EPWM_FREQ' }, `${soc}: 0 Hz`);
    t.throws(() => pwm.start(12, -5, 0.5), { code: 'EPWM_FREQ' });
    t.throws(() => pwm.start(12, NaN, 0.5), { code: 'EPWM_FREQ' });
    t.throws(() => pwm.start(12, 40e6, 0.5), { code: 'EPWM_FREQ' }, `${soc}: beyond the block`);
    t.throws(() => pwm.start(12, 1000, 1.5), { code: 'EPWM_DUTY' });
    t.throws(() => pwm.start(12, 1000, -0.1), { code: 'EPWM_DUTY' });
    t.same(pwm.trace(), [], `${soc}: no register touched`);
    pwm.close();
    t.throws(() => pwm.start(12, 1000, 0.5), { code: 'ECLOSED' });
  }
});

t.test('bcm2711: a clock that does not stop on ENAB cleared is stopped with KILL after a bounded wait', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2711', simulate: true, trace: true, modelBusyStuck: 'untilKill' });
  pwm.start(12, 1000, 0.5);
  pwm.clearTrace();
  const r = pwm.start(12, 30_000, 0.5);
  t.equal(r.frequencyHz, 30_000);
  const tr = acc(pwm.trace());
  const stop = tr.findIndex((e) => e[0] === 'write' && e[1] === 'CM' && e[2] === CM_REG.PWMCTL);
  const kill = tr.findIndex((e) => e[0] === 'write' && e[1] === 'CM' && ((e[3] as number) & KILL) !== 0);
  t.same(tr[stop], ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD | 6], 'the documented stop first');
  t.ok(kill > stop, 'then KILL');
  t.same(tr[kill], ['write', 'CM', CM_REG.PWMCTL, CM_PASSWD | 6 | KILL], 'KILL keeps the running source');
  const between = tr.slice(stop + 1, kill);
  const reads = between.filter((e) => e[0] === 'read');
  t.equal(reads.length, 1000, 'BUSY polled a bounded number of times');
  t.ok(
    reads.every((e) => ((e[3] as number) & BUSY) !== 0),
    'BUSY still set on every poll',
  );
  const waitedUs = between.filter((e) => e[0] === 'delay').reduce((a, e) => a + (e[3] as number), 0);
  t.ok(waitedUs >= 213, `${waitedUs} us of waits: longer than one cycle of the slowest divided clock (4095 / 19.2 MHz)`);
  const div = tr.findIndex((e) => e[0] === 'write' && e[2] === CM_REG.PWMDIV);
  t.ok(div > kill, 'the divisor after KILL');
  t.same(
    tr
      .slice(kill + 1, div)
      .filter((e) => e[0] === 'read')
      .map((e) => (e[3] as number) & BUSY),
    [BUSY, BUSY, 0],
    'and after BUSY cleared',
  );
  t.match(pwm.modelState(), { violations: 0, kills: 1, badPassword: 0, clockRunning: true, clockDivisor: r.divisor });
  pwm.close();
});

t.test('bcm2711: a clock that stops neither way fails the retune with ETIMEDOUT, divisor untouched', async (t) => {
  const pwm = openHardwarePwm({ soc: 'bcm2711', simulate: true, trace: true, modelBusyStuck: 'always' });
  pwm.start(12, 1000, 0.5);
  const divBefore = pwm.peek('CM', CM_REG.PWMDIV);
  pwm.clearTrace();
  t.throws(() => pwm.start(12, 30_000, 0.5), { code: 'ETIMEDOUT' });
  const tr = acc(pwm.trace());
  t.equal(tr.filter((e) => e[0] === 'write' && e[1] === 'CM' && ((e[3] as number) & KILL) !== 0).length, 1, 'one KILL');
  t.notOk(
    tr.some((e) => e[0] === 'write' && e[2] === CM_REG.PWMDIV),
    'no divisor write',
  );
  t.equal(tr.filter((e) => e[0] === 'read' && e[1] === 'CM').length, 1 + 2 * 1000, 'bounded: the read of the state, two rounds of polls');
  t.equal(pwm.peek('CM', CM_REG.PWMDIV), divBefore);
  t.match(pwm.modelState(), { violations: 0, kills: 1 });
  t.equal(pwm.peek('PWM0', PWM_REG.CTL) & PWEN1, 0, 'the channel stays disabled');
  pwm.close();
});
