// A binary for the wrong architecture must fail loudly, never be skipped for another one: the
// legs choose their prebuild with PI_CONTROLLER_ADDON, and a leg that quietly fell back to
// build/Release would pass while testing nothing of the prebuild.
import t from 'tap';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadAddon, addonPath } from '../../src/hw/addon.js';
import { nativeSuiteFiles, runSuiteFile } from '../support/native-suite.js';
import { repoRoot } from '../support/paths.js';

const prebuild = (dir: string): string => join(repoRoot(), 'prebuilds', dir, 'pi-controller.node');
const foreign = process.arch === 'x64' ? ['linux-arm64', 'linux-arm'] : ['linux-x64'];

for (const dir of foreign) {
  t.test(`the ${dir} prebuild on ${process.arch}`, async (t) => {
    const file = prebuild(dir);
    t.ok(existsSync(file), `${file} exists (npm run prebuild)`);
    const env = { PI_CONTROLLER_ADDON: file };
    t.equal(addonPath({ env }), file, 'PI_CONTROLLER_ADDON chooses the binary');
    t.throws(() => loadAddon({ env }), { code: 'EADDON_LOAD', path: file }, 'loadAddon throws, through the variable');
    t.throws(() => loadAddon({ path: file }), { code: 'EADDON_LOAD' }, 'and through an explicit path');
    // glibc's words differ: "wrong ELF class" for 32-bit, "cannot open shared object file" for
    // another 64-bit machine; either way the cause is the dynamic loader's refusal.
    t.throws(() => loadAddon({ path: file }), { cause: { code: 'ERR_DLOPEN_FAILED' } }, 'the cause is dlopen');

    const files = nativeSuiteFiles();
    const first = files[0];
    t.ok(first, 'the native suite has a file to run');
    if (!first) return;
    const r = await runSuiteFile([process.execPath], first, { ...process.env, ...env });
    t.not(r.code, 0, `${basename(first)} fails with the ${dir} binary instead of loading another`);
    t.notOk(r.total > 0 && r.pass === r.total, 'and does not report a passing run');
  });
}
