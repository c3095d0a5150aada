/**
 * Loads the native addon. The binary is chosen, in order, by the `path` option, by the
 * PI_CONTROLLER_ADDON environment variable (read at call time, so a test leg can load a
 * sanitizer build or a given prebuild), or by node-gyp-build's search from the package root
 * (build/Release, then prebuilds/<platform>-<arch>).
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { HwError } from './errors.js';
import type { NativeAddon } from './native.js';
import { nativeBinaryPath, packageRoot } from './prebuild.js';

export interface LoadAddonOptions {
  /** An explicit .node file. */
  path?: string;
  /** Environment to read PI_CONTROLLER_ADDON from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const loaded = new Map<string, NativeAddon>();
const require = createRequire(import.meta.url);

/** The path loadAddon() would load, without loading it. */
export function addonPath(options: LoadAddonOptions = {}): string {
  const explicit = options.path ?? (options.env ?? process.env).PI_CONTROLLER_ADDON;
  if (explicit) return resolve(explicit);
  return nativeBinaryPath(packageRoot());
}

/**
 * The addon, loaded once per binary path, with HwError registered as its error class.
 * @throws the prebuild layer's NativeAddonMissingError when no binary fits this machine, or
 *   HwError `EADDON_LOAD` (with the loader's error as `cause`) when the file cannot be loaded.
 */
export function loadAddon(options: LoadAddonOptions = {}): NativeAddon {
  const file = addonPath(options);
  const cached = loaded.get(file);
  if (cached) return cached;
  let addon: NativeAddon;
  try {
    addon = require(file) as NativeAddon;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new HwError(`cannot load the pi-controller native addon from ${file}: ${detail}`, {
      code: 'EADDON_LOAD',
      path: file,
      cause,
    });
  }
  if (typeof addon.GpioChip !== 'function' || typeof addon.setErrorClass !== 'function') {
    throw new HwError(`${file} is not a pi-controller addon with the GPIO core`, { code: 'EADDON_LOAD', path: file });
  }
  addon.setErrorClass(HwError);
  loaded.set(file, addon);
  return addon;
}
