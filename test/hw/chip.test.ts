import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RegisterChip, openChip } from '../../src/hw/chip.js';
import { addonPath, loadAddon } from '../../src/hw/addon.js';
import { fixture, repoRoot } from '../support/paths.js';

t.test('openChip', async (t) => {
  t.test('auto-detects the SoC from the tree under root', async (t) => {
    for (const [board, soc] of [
      ['pi-5', 'rp1'],
      ['pi-4-b', 'bcm2711'],
      ['pi-zero-w', 'bcm2835'],
      ['pi-zero-2-w', 'bcm2837'],
    ] as const) {
      const chip = openChip({ root: fixture('boards', board), simulate: true });
      t.equal(chip.soc, soc, board);
      t.equal(chip.board?.soc, soc, 'the board info is kept');
      chip.close();
    }
    t.throws(() => openChip({ root: fixture('boards', 'unknown-rk3588'), simulate: true }), { code: 'EBOARD_UNKNOWN' });
  });

  t.test('isSupported is false where the board or its device is missing', async (t) => {
    t.equal(RegisterChip.isSupported({ root: fixture('boards', 'unknown-rk3588') }), false, 'unknown board');
    // The fixture is a Pi 4, but this machine has no /dev/gpiomem.
    t.equal(RegisterChip.isSupported({ root: fixture('boards', 'pi-4-b') }), false, 'no device');
  });

  t.test('EACCES on the device names the fix', { skip: process.getuid?.() !== 0 && 'needs root to drop to another user' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pic-eacces-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const dev = join(dir, 'gpiomem');
    writeFileSync(dev, Buffer.alloc(4096));
    chmodSync(dev, 0o600); // like /dev/gpiomem owned root:gpio 0660, for a user outside the group
    const chipUrl = pathToFileURL(join(repoRoot(), 'dist', 'src', 'hw', 'chip.js')).href;
    const script = `
      import { openChip } from ${JSON.stringify(chipUrl)};
      try { openChip({ soc: 'bcm2711', gpiomem: ${JSON.stringify(dev)} }); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, syscall: e.syscall, peripheral: e.peripheral, errno: e.errno, message: e.message })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, PI_CONTROLLER_ADDON: addonPath() },
    });
    t.equal(r.status, 0, r.stderr);
    const err = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    t.match(err, { name: 'HwError', code: 'EACCES', syscall: 'open', peripheral: 'gpio', errno: 13 });
    t.match(err.message, /gpio group/);
    t.match(err.message, /run as root/);
  });
});

t.test('loadAddon', async (t) => {
  t.test('reads PI_CONTROLLER_ADDON when called, not when imported', async (t) => {
    const env = { PI_CONTROLLER_ADDON: '/nonexistent/pi_controller.node' };
    t.equal(addonPath({ env }), '/nonexistent/pi_controller.node');
    t.throws(() => loadAddon({ env }), {
      name: 'HwError',
      code: 'EADDON_LOAD',
      message: /cannot load the pi-controller native addon from \/nonexistent/,
    });
    t.equal(addonPath({ path: 'x.node', env }), join(process.cwd(), 'x.node'), 'an explicit path wins');
  });

  t.test('the addon has the GPIO core and a noop baseline', async (t) => {
    const addon = loadAddon();
    t.equal(typeof addon.noop, 'function');
    t.equal(addon.noop(), undefined);
    t.equal(loadAddon(), addon, 'loaded once per path');
  });
});
