/** An agent's health report for tests: a temperature and the firmware flags that matter here. */
import type { Health } from '../../src/api/agent.js';

export function health(socTempC: number | null, flags: { underVoltage?: boolean; throttled?: boolean } | null = {}): Health {
  const f = flags && {
    raw: 0,
    underVoltage: flags.underVoltage ?? false,
    frequencyCapped: false,
    throttled: flags.throttled ?? false,
    softTempLimit: false,
    underVoltageOccurred: false,
    frequencyCappedOccurred: false,
    throttledOccurred: false,
    softTempLimitOccurred: false,
  };
  return {
    agentVersion: 'test',
    simulated: true,
    socTempC,
    throttled: f,
    memTotalBytes: 0,
    memAvailableBytes: 0,
    load1: 0,
    load5: 0,
    load15: 0,
    uptimeSec: 1,
    agentRssBytes: 0,
    at: new Date().toISOString(),
  };
}
