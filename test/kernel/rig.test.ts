// Boots Debian's kernel in qemu with gpio-sim and i2c-stub (the rig from scripts/setup/30-kernel-rig.sh)
// and runs the guest suite (test/kernel/guest/*.guest.ts, compiled) inside it against the real
// /dev/gpiochipN and /dev/i2c-N. Asserts on what came back: every guest assert passed, and every
// expected guest test ran.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { findRig, runGuest } from '../support/kernel-rig/vm.js';
import { scaled } from '../support/wait.js';

/** The guest tests each file must report (names of the top-level subtest's children). */
const EXPECTED: Record<string, string[]> = {
  'i2c.guest': [
    'reports the adapter functionality',
    'SMBus byte data round-trips',
    'SMBus send/receive byte use the register pointer',
    'SMBus word data round-trips little-endian',
    'SMBus block and I2C block transfers',
    'I2C_RDWR combined write-then-read with a repeated start',
    'readRegisters / writeRegisters take the plain I2C path',
    'plain read() and write()',
    'an absent address gives its coded error',
    'an unsupported transfer gives EOPNOTSUPP',
    'bad input is refused before the bus is touched',
    'a scan finds exactly the stub addresses',
    'transfers are serialised per bus, across handles',
    'a closed bus refuses transfers',
  ],
  'gpiochip.guest': [
    'chip and line info',
    'an output request drives the simulated line',
    'active-low and open-drain outputs',
    'inputs follow the simulated pull, and a bias request sets it',
    'rising edges: counted exactly for a burst of 10 pull changes',
    'falling edges: counted exactly for a burst of 10 pull changes',
    'both edges: counted exactly for a burst of 10 pull changes',
    'debounce: a fast burst settles into one edge; slow changes each count',
    'a kernel buffer overflow is reported as a sequence gap',
    'close stops the event thread',
    'bad settings are refused with EINVAL and claim nothing',
    'a board without a register map gets the character-device backend',
  ],
};

interface TapFile {
  pass: number;
  fail: number;
  /** Names of subtests one level below the file's top-level test. */
  children: string[];
  failures: string[];
}

/**
 * The failing assertion's own diagnostic (tap's YAML block after a `not ok` line): what was
 * found and wanted, the diff, where. Shown in the summary, so a failure in the guest names its values.
 */
function failureDetail(lines: string[], from: number): string {
  if (!/^\s*---\s*$/.test(lines[from] ?? '')) return '';
  const keep: string[] = [];
  for (let i = from + 1; i < lines.length && !/^\s*\.\.\.\s*$/.test(lines[i]!); i++) {
    const l = lines[i]!.trim();
    if (/^(found|wanted|compare|diff|[-+@]|lineNumber|fileName|message)/.test(l)) keep.push(l);
  }
  return keep.length ? `\n  ${keep.slice(0, 40).join('\n  ')}` : '';
}

function parseTap(text: string): TapFile {
  const out: TapFile = { pass: 0, fail: 0, children: [], failures: [] };
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const m = /^(\s*)(not ok|ok) \d+ - (.*?)(\s+#\s+(SKIP|TODO).*)?$/.exec(line);
    if (!m) continue;
    if (m[2] === 'ok') out.pass++;
    else {
      out.fail++;
      out.failures.push(line.trim() + failureDetail(lines, i + 1));
    }
    if ((m[1] ?? '').length === 4) out.children.push((m[3] ?? '').replace(/ # time=.*$/, ''));
  }
  return out;
}

// Booting under TCG plus the suite takes about a minute; the root timeout covers it when run standalone.
t.setTimeout(scaled(180_000));
t.test('kernel rig', { timeout: scaled(175_000) }, async (t) => {
  const rig = findRig();
  if ('missing' in rig) {
    // On CI the setup step always runs first, so a missing rig is a failure there.
    if (process.env.CI) t.fail(rig.missing);
    else t.test('guest suite', { skip: rig.missing }, async () => {});
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'pc-kernel-rig-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const cmd = join(repoRoot(), 'test', 'support', 'kernel-rig', 'guest-suite.sh');
  const run = await runGuest(rig, cmd, out);
  t.comment(`kernel ${rig.kernelVersion}; boot + guest suite ${(run.ms / 1000).toFixed(1)} s (qemu TCG)`);
  t.equal(run.status, 0, 'the guest suite reported status 0', { console: run.console.slice(-4000) });

  const status = readFileSync(join(out, 'status'), 'utf8').trim().split('\n');
  t.equal(status.at(-1), 'done', 'the guest suite ran to its end');
  t.match(
    readFileSync(join(out, 'guest-info'), 'utf8'),
    /gpio_sim.*i2c_stub_plain|i2c_stub_plain.*gpio_sim/s,
    'modules loaded in the guest',
  );

  const files = readdirSync(out)
    .filter((f) => f.endsWith('.guest.tap'))
    .map((f) => f.replace(/\.tap$/, ''));
  t.same(files.sort(), Object.keys(EXPECTED).sort(), 'every guest file ran');
  for (const name of Object.keys(EXPECTED)) {
    t.test(name, async (t) => {
      const line = status.find((l) => l.startsWith(`${name} `)) ?? '';
      const [, rc, t0, t1] = line.split(' ');
      const tap = parseTap(readFileSync(join(out, `${name}.tap`), 'utf8'));
      t.comment(`${name}: ${tap.pass} passed, ${tap.fail} failed in ${(Number(t1) - Number(t0)).toFixed(1)} s`);
      t.equal(rc, '0', 'exit status 0');
      t.same(tap.failures, [], 'no failed asserts');
      t.same(tap.children, EXPECTED[name], 'every expected guest test ran, in order');
      t.ok(tap.pass >= (EXPECTED[name]?.length ?? 0) * 2, `asserts passed (${tap.pass})`);
    });
  }
});
