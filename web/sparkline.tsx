/**
 * A small SVG line of a node's SoC temperature over its recent health samples, with a red mark
 * at each sample that was under-voltage or throttled. No chart library: one polyline. The
 * picture has a text equivalent (role="img" with a label saying the range and the bad samples).
 */
import type { HealthSample } from '../src/api/health.js';

const W = 120;
const H = 28;
const PAD = 3;

export function Sparkline({ samples }: { samples: HealthSample[] }) {
  const temps = samples.map((s) => s.socTempC).filter((v): v is number => v !== null);
  const bad = samples.filter((s) => s.underVoltage || s.throttled || s.frequencyCapped).length;
  if (samples.length < 2 || temps.length === 0) return null;
  const min = Math.min(...temps);
  const max = Math.max(...temps);
  // At least a 2 °C range, so noise of a tenth of a degree does not fill the height.
  const lo = Math.min(min, (min + max) / 2 - 1);
  const hi = Math.max(max, (min + max) / 2 + 1);
  const x = (i: number) => PAD + (i * (W - 2 * PAD)) / (samples.length - 1);
  const y = (v: number) => H - PAD - ((v - lo) * (H - 2 * PAD)) / (hi - lo);
  const points = samples
    .map((s, i) => (s.socTempC === null ? null : `${x(i).toFixed(1)},${y(s.socTempC).toFixed(1)}`))
    .filter(Boolean)
    .join(' ');
  const first = new Date(samples[0]!.at);
  const minutes = Math.max(1, Math.round((Date.parse(samples[samples.length - 1]!.at) - first.getTime()) / 60_000));
  const label =
    `SoC temperature over the last ${minutes} min (${samples.length} samples): ${min.toFixed(1)} to ${max.toFixed(1)} °C` +
    (bad ? `; under-voltage or throttled in ${bad} of them` : '; never under-voltage or throttled');
  return (
    <svg class="spark" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={label} data-testid="sparkline">
      <title>{label}</title>
      <polyline points={points} class="line" />
      {samples.map((s, i) =>
        s.underVoltage || s.throttled || s.frequencyCapped ? (
          <rect key={s.at} class="badmark" x={x(i) - 1.5} y={0} width={3} height={H} />
        ) : null,
      )}
    </svg>
  );
}
