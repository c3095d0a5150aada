/**
 * Typed errors shared by the store, the server, the agent link, the CLI and the agent.
 * Every error carries a stable machine-readable `code`; the REST layer maps them to
 * HTTP status codes in one place (error-response.ts, used by src/server and src/link).
 */

/** One problem found in an input, with the JSON pointer of the offending value. */
export interface Problem {
  /** JSON pointer into the request, e.g. `/body/spec/pin` or `/query/limit`. */
  path: string;
  /** Human-readable description. */
  message: string;
  /** Machine-readable reason, e.g. `type`, `minimum`, `required`, `additionalProperties`. */
  code: string;
}

/** Base class: `code` is stable, `status` is the HTTP status the REST layer answers with. */
export class ControllerError extends Error {
  readonly code: string;
  readonly status: number;
  /** Whether the message may be shown to an API client (true for every expected error). */
  readonly expose: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    status: number,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown>; expose?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = options?.expose ?? status < 500;
    this.details = options?.details;
  }
}

/** Input did not match its schema (or a semantic rule): every problem is listed. */
export class ValidationError extends ControllerError {
  readonly problems: Problem[];
  constructor(problems: Problem[], message = 'request validation failed') {
    super('VALIDATION_FAILED', 422, message, { details: { problems } });
    this.problems = problems;
  }
}

export class NotFoundError extends ControllerError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', 404, `${what} ${JSON.stringify(id)} not found`, { details: { kind: what, id } });
  }
}

export class ConflictError extends ControllerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFLICT', 409, message, details ? { details } : undefined);
  }
}

export class UnauthenticatedError extends ControllerError {
  constructor(message = 'a valid bearer token is required') {
    super('UNAUTHENTICATED', 401, message);
  }
}

export class ForbiddenError extends ControllerError {
  constructor(needed: string, had: string) {
    super('FORBIDDEN', 403, `this route needs role ${needed}; the token has role ${had}`, { details: { needed, had } });
  }
}

/** The database was written by a newer pi-controller (or is not one of ours). */
export class SchemaError extends ControllerError {
  constructor(code: 'SCHEMA_TOO_NEW' | 'NOT_OUR_DATABASE' | 'DATABASE_CORRUPT', message: string, options?: { cause?: unknown }) {
    super(code, 409, message, options);
  }
}

/** Configuration problems found at start, each with its path and where the value came from. */
export class ConfigError extends ControllerError {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super('CONFIG_INVALID', 400, `invalid configuration:\n${problems.map((p) => `  ${p.path || '/'}: ${p.message}`).join('\n')}`, {
      details: { problems },
    });
    this.problems = problems;
  }
}
