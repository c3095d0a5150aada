/**
 * The model the agent advertises: the device tree's, read under its health root and then under `/`
 * (the DaemonSet mounts /sys under /host but the device tree at /proc/device-tree), else a stand-in.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boardModel } from '../../agent/advertise.js';
import { tempDir } from '../support/tmp.js';

function root(t: Parameters<typeof tempDir>[0], model?: string): string {
  const dir = tempDir(t);
  if (model !== undefined) {
    mkdirSync(join(dir, 'proc/device-tree'), { recursive: true });
    // The kernel ends the property with a NUL.
    writeFileSync(join(dir, 'proc/device-tree/model'), `${model}\0`);
  }
  return dir;
}

t.test('board model', async (t) => {
  t.test('the first root that has a device tree gives it, without the NUL', async (t) => {
    const pi4 = root(t, 'Raspberry Pi 4 Model B Rev 1.4');
    const zero = root(t, 'Raspberry Pi Zero 2 W Rev 1.0');
    const none = root(t);
    t.equal(boardModel([pi4, zero], 'bcm2711', false), 'Raspberry Pi 4 Model B Rev 1.4');
    t.equal(boardModel([none, zero], 'bcm2837', false), 'Raspberry Pi Zero 2 W Rev 1.0', 'the health root has none: the next root');
  });
  t.test('no device tree anywhere: a stand-in that says what it is', async (t) => {
    const none = root(t);
    t.equal(boardModel([none], 'bcm2711', true), 'simulated bcm2711');
    t.equal(boardModel([none], 'bcm2711', false), 'unknown');
  });
});
