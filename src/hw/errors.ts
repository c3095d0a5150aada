/**
 * Errors of the hardware layer. Native code throws HwError (registered with the addon at load
 * time, so the C++ side creates real instances of this class); bad arguments are RangeError or
 * TypeError with a `code`, thrown before any register is touched.
 */

/** Options of {@link HwError}: what failed, where, and the errno when a system call failed. */
export interface HwErrorProps {
  code: string;
  syscall?: string;
  peripheral?: string;
  errno?: number;
  path?: string;
  cause?: unknown;
}

/** A hardware or system error: `code` is an errno name (`EACCES`) or a project code (`ECLOSED`). */
export class HwError extends Error {
  readonly code: string;
  readonly syscall?: string;
  readonly peripheral?: string;
  readonly errno?: number;
  readonly path?: string;

  constructor(message: string, props: HwErrorProps) {
    super(message, props.cause === undefined ? undefined : { cause: props.cause });
    this.name = 'HwError';
    this.code = props.code;
    if (props.syscall !== undefined) this.syscall = props.syscall;
    if (props.peripheral !== undefined) this.peripheral = props.peripheral;
    if (props.errno !== undefined) this.errno = props.errno;
    if (props.path !== undefined) this.path = props.path;
  }
}

/** A RangeError with a stable `code`, like Node's own ERR_OUT_OF_RANGE. */
export function rangeError(code: string, message: string): RangeError & { code: string } {
  return Object.assign(new RangeError(message), { code });
}

/** A TypeError with a stable `code`. */
export function typeError(code: string, message: string): TypeError & { code: string } {
  return Object.assign(new TypeError(message), { code });
}
