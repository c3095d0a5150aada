#!/usr/bin/env node
'use strict';
// npm "install" hook, and the one place that decides which native binary fits this machine.
//
// When it runs: it accepts a prebuilt binary from prebuilds/ when one fits, otherwise builds from
// source when a compiler, make and Python are present, and otherwise fails with a message that
// says why and what to do. npm 11 blocks dependency install scripts unless the consumer allows
// them, so this hook may never run: the loader (src/hw/prebuild.ts) calls findBinary() from this
// file at run time and throws the same message.
//
// Required as a module it exports the pieces, so the decision can be tested with another host.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE = 'pi-controller';

/**
 * The host as the decision sees it.
 * `machine` is the kernel's CPU name (`uname -m`): a Pi 1 / Zero / Zero W reports armv6l; a 32-bit
 * OS on a Pi 2-5 reports armv7l, armv8l or (with the 64-bit kernel Raspberry Pi OS now boots)
 * aarch64. `process.arch` is the architecture Node was built for.
 */
function currentHost() {
  return { platform: process.platform, arch: process.arch, machine: os.machine(), ...libc() };
}

/**
 * The C library this process runs on, from its own memory map: `{ musl, glibc }` with glibc's
 * version or null when it cannot be told. (process.report.getReport() knows it too, but it does
 * far more work and crashes Node under qemu-aarch64 with 16 KiB pages.)
 */
function libc() {
  let maps = '';
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return { musl: false, glibc: null };
  }
  if (/\/ld-musl-|\/libc\.musl-/.test(maps)) return { musl: true, glibc: null };
  const m = /(\/\S*\/libc(?:-(\d+\.\d+))?\.so(?:\.6)?)$/m.exec(maps);
  if (!m) return { musl: false, glibc: null };
  if (m[2]) return { musl: false, glibc: m[2] }; // glibc up to 2.33 names the file libc-2.NN.so
  try {
    const text = fs.readFileSync(m[1]).toString('latin1');
    const v = /GNU C Library [^\n]*?version (\d+\.\d+)/.exec(text);
    return { musl: false, glibc: v ? v[1] : null };
  } catch {
    return { musl: false, glibc: null };
  }
}

/** -1, 0 or 1 as dotted version a is older, equal or newer than b. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Why a prebuilt binary for `platform-arch` cannot run on `host`, or null when it can.
 * The linux-arm prebuild is ARMv7 code (Thumb-2, VFPv3) and is deliberately not tagged with an
 * ARM version (Raspberry Pi OS's own Node may say "6" on an ARMv7 board), so node-gyp-build would
 * hand it to an ARMv6 CPU, where it dies with SIGILL. Refuse it there, by the CPU, not by Node.
 */
function prebuildMismatch(host, file) {
  if (host.platform === 'linux' && host.arch === 'arm' && /^armv[2-6]/.test(host.machine)) {
    return `the linux-arm prebuild needs an ARMv7 or newer CPU and this one is ${host.machine} ` + '(Raspberry Pi 1, Zero or Zero W)';
  }
  // scripts/prebuild.sh records the newest glibc symbol version the binary links against.
  let needs = null;
  try {
    needs = fs.readFileSync(path.join(path.dirname(file), 'glibc-version'), 'utf8').trim() || null;
  } catch {
    needs = null;
  }
  if (needs && host.glibc && compareVersions(host.glibc, needs) < 0) {
    return (
      `the ${host.platform}-${host.arch} prebuild needs glibc ${needs} or newer and this system has ` +
      `${host.glibc} (Raspberry Pi OS bullseye or older)`
    );
  }
  if (host.musl) {
    return `the ${host.platform}-${host.arch} prebuild is built for glibc and this system uses musl`;
  }
  return null;
}

/**
 * The native binary to load from the package folder `root`: build/Release when it was built from
 * source, else the prebuild that fits. Returns `{ file }`, or `{ reason }` when nothing fits.
 */
function findBinary(root, host = currentHost()) {
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch (err) {
    return {
      reason:
        `no prebuilt binary for ${host.platform}-${host.arch} (CPU ${host.machine}) ` +
        `and none built from source (${String(err && err.message ? err.message : err).split('\n')[0]})`,
    };
  }
  const fromPrebuilds = path.relative(path.join(root, 'prebuilds'), file).split(path.sep)[0] !== '..';
  const mismatch = fromPrebuilds ? prebuildMismatch(host, file) : null;
  if (mismatch) return { reason: `${mismatch}, and no binary was built from source` };
  return { file };
}

/** What a user reads when nothing fits: why, and the commands that fix it. */
function advice(reason) {
  return [
    `${PACKAGE}: cannot load the native addon: ${reason}.`,
    'Prebuilt binaries ship for linux-x64, linux-arm64 (64-bit Raspberry Pi OS) and linux-arm',
    '(ARMv7: 32-bit Raspberry Pi OS on a Pi 2, 3, 4, 5 or Zero 2 W). Elsewhere, build it from source:',
    '  sudo apt install -y build-essential python3    # a C++ compiler, make and Python for node-gyp',
    `  npm install-scripts approve ${PACKAGE}        # only if your npm blocks install scripts (npm 11 allowScripts)`,
    `  npm rebuild ${PACKAGE}`,
  ].join('\n');
}

/** The first of `names` found as an executable on PATH, or null. */
function which(names, envPath = process.env.PATH || '') {
  for (const name of names) {
    for (const dir of envPath.split(path.delimiter)) {
      if (!dir) continue;
      const p = path.join(dir, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** The tools node-gyp needs that cannot be found (a C++ compiler, make, Python 3). */
function missingTools(env = process.env) {
  const missing = [];
  const cxx = env.CXX ? env.CXX.split(/\s+/)[0] : null;
  if (!(cxx ? which([cxx], env.PATH) : which(['g++', 'c++', 'clang++'], env.PATH))) {
    missing.push(cxx ? `the C++ compiler ${cxx}` : 'a C++ compiler (g++)');
  }
  if (!which(['make'], env.PATH)) missing.push('make');
  if (!which(['python3', 'python'], env.PATH)) missing.push('python3');
  return missing;
}

/** node-gyp rebuild in `root`, with npm's own node-gyp when npm runs this hook. */
function buildFromSource(root) {
  const npmGyp = process.env.npm_config_node_gyp;
  const [cmd, args] = npmGyp && fs.existsSync(npmGyp) ? [process.execPath, [npmGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) return `could not start node-gyp: ${r.error.message}`;
  return r.status === 0 ? null : `node-gyp rebuild failed with exit status ${r.status}`;
}

function main() {
  const root = path.resolve(__dirname, '..');
  const found = findBinary(root);
  if (found.file) process.exit(0);
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(advice(`${found.reason}; building from source needs ${missing.join(', ')}, ` + 'which cannot be found on PATH'));
    process.exit(1);
  }
  console.error(`${PACKAGE}: ${found.reason}; building from source with node-gyp.`);
  const failed = buildFromSource(root);
  if (failed) {
    console.error(advice(`${found.reason}; ${failed}`));
    process.exit(1);
  }
}

module.exports = { currentHost, compareVersions, prebuildMismatch, findBinary, advice, missingTools, which, PACKAGE };

if (require.main === module) main();
