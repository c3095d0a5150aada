// Discovery speed in the lab (`npm run bench:discovery`, root and scripts/setup/50-lab.sh): time to find
// 10 lab hosts by mDNS, and to scan the lab's /24 (10 live hosts) for SSH, each against a baseline from
// the same run. mDNS baseline: Debian's `avahi-browse -a -r -p -t -k` in the controller's namespace, over a
// private D-Bus with its own avahi-daemon (test/lab/avahi-browse-time.sh; the daemon's start is not timed).
// Scan baseline: a bare loop connecting to every address at once (no concurrency limit, no banner, no MACs).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { repoRoot } from '../test/support/paths.js';
import { labSkipReason, labUp, runChild, type Lab } from '../test/support/lab.js';

const HOSTS = 10;
const ROUNDS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function timedOp(lab: Lab, op: string, args: unknown): Promise<{ ms: number; hosts: number }> {
  const r = await runChild<{ ms: number; hosts: number }>(lab, op, args, { timeoutMs: 60_000 });
  if (!r.ok) throw new Error(`${op}: ${r.error.code} ${r.error.message}`);
  return r.value;
}

async function main(): Promise<void> {
  const skip = labSkipReason();
  if (skip) {
    console.log(`bench discovery: skipped: ${skip}`);
    return;
  }
  const teardowns: (() => void)[] = [];
  try {
    const lab = labUp({ teardown: (fn) => teardowns.push(fn) }, HOSTS);
    const ctl = lab.controller.address;
    console.log(
      `lab: ${HOSTS} hosts up in ${lab.upSeconds.toFixed(1)} s; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const mdns: number[] = [];
    const scan: number[] = [];
    const loop: number[] = [];
    const avahi: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const [ms = NaN, n = 0] = execFileSync('bash', [join(repoRoot(), 'test', 'lab', 'avahi-browse-time.sh')], {
        env: { ...process.env, ...lab.env },
        encoding: 'utf8',
      })
        .trim()
        .split(' ')
        .map(Number);
      if (n !== HOSTS) console.log(`  round ${i}: avahi-browse resolved ${n}/${HOSTS}`);
      avahi.push(ms);
      const m = await timedOp(lab, 'time-browse', { interfaceAddress: ctl, timeoutMs: 5000, expect: HOSTS });
      if (m.hosts !== HOSTS) console.log(`  round ${i}: mDNS found ${m.hosts}/${HOSTS}`);
      mdns.push(m.ms);
      const s = await timedOp(lab, 'time-scan', {
        cidr: lab.subnet,
        localAddress: ctl,
        timeoutMs: 1000,
        concurrency: 256,
        bannerTimeoutMs: 1000,
      });
      if (s.hosts !== HOSTS) console.log(`  round ${i}: scan found ${s.hosts}/${HOSTS}`);
      scan.push(s.ms);
      const b = await timedOp(lab, 'time-connect-loop', { cidr: lab.subnet, port: 22, timeoutMs: 1000, localAddress: ctl });
      loop.push(b.ms);
    }
    const f = (ms: number) => `${ms.toFixed(0)} ms`;
    console.log(
      `mDNS, ${HOSTS} hosts from stock avahi: median ${f(median(mdns))} (min ${f(Math.min(...mdns))}) vs avahi-browse -atrpk ${f(median(avahi))}: ${(median(mdns) / median(avahi)).toFixed(2)}x; goal <= 1000 ms`,
    );
    console.log(
      `scan of ${lab.subnet} (${HOSTS} live): median ${f(median(scan))} vs bare connect loop ${f(median(loop))}: ${(median(scan) / median(loop)).toFixed(2)}x; goal <= 3000 ms`,
    );
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    for (const fn of teardowns) fn();
  }
}

await main();
