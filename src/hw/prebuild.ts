import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The host as the prebuild decision sees it (`machine` is `uname -m`, the CPU the kernel reports; `glibc` the C library's version). */
export interface NativeHost {
  platform: string;
  arch: string;
  machine: string;
  /** glibc's version, or null when the C library is not glibc or its version cannot be told. */
  glibc: string | null;
  /** The C library is musl (Alpine). */
  musl: boolean;
}

/** The decision logic shared with the npm install hook (scripts/install.cjs, plain CommonJS). */
interface InstallHook {
  currentHost(): NativeHost;
  prebuildMismatch(host: NativeHost, file: string): string | null;
  findBinary(root: string, host?: NativeHost): { file?: string; reason?: string };
  advice(reason: string): string;
}

/**
 * Thrown when no native binary fits this machine: no prebuild for its platform and CPU (e.g. an
 * ARMv6 Raspberry Pi 1 / Zero) and none built from source. The message names the fix.
 */
export class NativeAddonMissingError extends Error {
  readonly code = 'ERR_PI_CONTROLLER_NO_NATIVE_BUILD';
  constructor(
    message: string,
    readonly host: NativeHost,
  ) {
    super(message);
    this.name = 'NativeAddonMissingError';
  }
}

/** The folder of the installed pi-controller package (from src/hw or dist/src/hw). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === 'pi-controller') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('pi-controller package folder not found');
    dir = up;
  }
}

function installHook(root: string): InstallHook {
  return createRequire(join(root, 'package.json'))('./scripts/install.cjs') as InstallHook;
}

/**
 * The path of the native binary to load: `build/Release` when built from source, else the
 * prebuild in `prebuilds/<platform>-<arch>/` that fits this CPU and C library (the linux-arm
 * prebuild is refused on ARMv6, where it would die with SIGILL; any prebuild on a glibc older than
 * it links against, where dlopen would fail). npm 11 may not have run the install hook at all, so
 * this is decided at run time, with the same code the hook uses.
 * @param root the package folder (default: this package)
 * @param host the machine to decide for (default: this one)
 * @throws NativeAddonMissingError with the reason and the commands that build from source
 */
export function nativeBinaryPath(root: string = packageRoot(), host?: NativeHost): string {
  const hook = installHook(root);
  const h = host ?? hook.currentHost();
  const found = hook.findBinary(root, h);
  if (found.file) return found.file;
  throw new NativeAddonMissingError(hook.advice(found.reason ?? 'no native binary fits'), h);
}
