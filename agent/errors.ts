/**
 * The agent's own errors: a stable `code` that the CLI prints and that PWM and I2C refusals carry
 * into an object's reported state (`actual.code`). Enrolment has its own class (EnrolError in
 * enrol.ts), whose codes are the control plane's.
 */

/** Every code an {@link AgentError} can carry. */
export type AgentErrorCode =
  /** No credentials in the state directory, and no join token to enrol with. */
  | 'NOT_ENROLLED'
  /** The expected node name differs from the one in the certificate. */
  | 'NODE_MISMATCH'
  /** A safe-state file that is not `{ "<pin>": 0 | 1 }` within the SoC. */
  | 'SAFE_STATE_INVALID'
  /** A `--sim-i2c` file that cannot be read or fails its schema. */
  | 'SIM_I2C_INVALID'
  /** This agent has no hardware PWM or timing engine (reported as NoPwmAccess). */
  | 'ENOPWM'
  /** This agent has no I2C buses. */
  | 'ENOI2C';

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}
