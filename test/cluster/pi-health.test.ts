/**
 * Pi health as Node conditions, as pure functions (no API server): the conditions a health
 * report gives, their transition times, and the health taints. On a real API server:
 * test/e2e/k8s-health.test.ts.
 */
import t from 'tap';
import { piHealthConditions, piHealthState, withHealthTaints, SOC_HOT_TAINT, UNDER_VOLTAGE_TAINT } from '../../src/cluster/nodes.js';
import { decodeThrottled } from '../../agent/health.js';

const report = (raw: number | null, socTempC: number | null) => ({
  socTempC,
  throttled: raw === null ? null : decodeThrottled(raw),
  at: '2026-12-04T09:00:00.000Z',
});
const byType = (cs: { type: string; status: string; reason: string }[]) =>
  Object.fromEntries(cs.map((c) => [c.type, [c.status, c.reason]]));

t.test('the three conditions from the firmware bits and the temperature', async (t) => {
  t.same(byType(piHealthConditions(report(0, 47.2))), {
    PiUnderVoltage: ['False', 'VoltageNormal'],
    PiThrottled: ['False', 'NotThrottled'],
    PiSocHot: ['False', 'SocTemperatureNormal'],
  });
  t.same(byType(piHealthConditions(report(0x1, 47.2))).PiUnderVoltage, ['True', 'UnderVoltage']);
  t.same(byType(piHealthConditions(report(0x2, 47.2))).PiThrottled, ['True', 'FrequencyCapped']);
  t.same(byType(piHealthConditions(report(0x6, 47.2))).PiThrottled, ['True', 'Throttled']);
  t.same(byType(piHealthConditions(report(0x8, 60))).PiSocHot, ['True', 'SoftTempLimit']);
  t.same(byType(piHealthConditions(report(0, 80))).PiSocHot, ['True', 'SocHot'], 'at the threshold');
  t.same(byType(piHealthConditions(report(0, 79.9))).PiSocHot, ['False', 'SocTemperatureNormal']);
  t.same(byType(piHealthConditions(report(0, 79.9), [], new Date(), 75)).PiSocHot, ['True', 'SocHot'], 'the threshold is configurable');
  t.same(
    byType(piHealthConditions(report(null, 85))),
    {
      PiUnderVoltage: ['False', 'VoltageNormal'],
      PiThrottled: ['False', 'NotThrottled'],
      PiSocHot: ['True', 'SocHot'],
    },
    'no firmware file (not a Pi kernel): only the temperature speaks',
  );
  t.match(piHealthConditions(report(0x10000, 47))[0], { message: /has occurred since boot/ });
  t.match(piHealthConditions(report(0, 47))[0], { message: /\(report of 2026-12-04T09:00:00.000Z\)$/ });
});

t.test('no report, or one with nothing in it: Unknown, NoHealthReport', async (t) => {
  for (const h of [null, undefined, report(null, null)]) {
    const cs = piHealthConditions(h);
    t.same(
      cs.map((c) => [c.type, c.status, c.reason]),
      [
        ['PiUnderVoltage', 'Unknown', 'NoHealthReport'],
        ['PiThrottled', 'Unknown', 'NoHealthReport'],
        ['PiSocHot', 'Unknown', 'NoHealthReport'],
      ],
    );
  }
  t.equal(piHealthState(report(null, null)), undefined);
});

t.test('lastTransitionTime stays while status and reason stay, and moves when they change', async (t) => {
  const t0 = new Date('2026-12-04T09:00:00Z');
  const t1 = new Date('2026-12-04T09:00:20Z');
  const first = piHealthConditions(report(0, 50), [], t0);
  const same = piHealthConditions(report(0, 51), first, t1);
  t.equal(same[2]!.lastTransitionTime, '2026-12-04T09:00:00Z');
  t.equal(same[2]!.lastHeartbeatTime, '2026-12-04T09:00:20Z');
  const hot = piHealthConditions(report(0, 90), first, t1);
  t.equal(hot[2]!.lastTransitionTime, '2026-12-04T09:00:20Z');
  t.equal(hot[0]!.lastTransitionTime, '2026-12-04T09:00:00Z', 'the unchanged ones keep theirs');
});

t.test('health taints: added while bad, removed when it clears, other taints kept in order', async (t) => {
  const other = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  const bad = withHealthTaints([other], piHealthState(report(0x1, 85)));
  t.same(bad, [other, UNDER_VOLTAGE_TAINT, SOC_HOT_TAINT]);
  t.same(withHealthTaints(bad, piHealthState(report(0, 50))), [other]);
  t.same(withHealthTaints(bad, piHealthState(report(0x1, 50))), [other, UNDER_VOLTAGE_TAINT]);
});
