/** CLI exit codes: each means one kind of failure, so scripts can branch on them. */
export const EXIT = {
  OK: 0,
  /** Unexpected failure. */
  ERROR: 1,
  /** Bad command line or configuration. */
  USAGE: 2,
  /** The server could not be reached. */
  UNREACHABLE: 3,
  /** Missing, invalid or insufficient credentials (401/403). */
  AUTH: 4,
  /** The object does not exist (404). */
  NOT_FOUND: 5,
  /** The server refused the input (422). */
  INVALID: 6,
  /** Conflict with the current state (409). */
  CONFLICT: 7,
  /** The server failed (5xx). */
  SERVER: 8,
  /**
   * A database file that cannot be used: not a pi-controller database, a schema newer than this
   * version, or corrupt (`restore` of such a file, or `serve` on such a data directory).
   */
  BAD_DATABASE: 9,
} as const;

/** Maps an HTTP status to the exit code. */
export function exitForStatus(status: number): number {
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 422 || status === 400 || status === 413 || status === 415) return EXIT.INVALID;
  if (status === 409) return EXIT.CONFLICT;
  if (status >= 500) return EXIT.SERVER;
  return EXIT.ERROR;
}

/** An error the CLI reports with a message and a specific exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}
