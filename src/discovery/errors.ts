/** Typed errors of discovery, each with a stable `code` (REST maps them through their `status`). */
import { ControllerError } from '../api/errors.js';

export type DiscoveryErrorCode =
  | 'CIDR_INVALID'
  | 'CIDR_TOO_LARGE'
  | 'ENETUNREACH'
  | 'MDNS_FAILED'
  | 'SCAN_RUNNING'
  | 'DISCOVERY_UNAVAILABLE'
  | 'HOST_KEY_MISMATCH'
  | 'PROBE_FAILED'
  | 'PROBE_ROOT_INVALID';

const STATUS: Record<DiscoveryErrorCode, number> = {
  CIDR_INVALID: 422,
  CIDR_TOO_LARGE: 422,
  ENETUNREACH: 502,
  MDNS_FAILED: 502,
  SCAN_RUNNING: 409,
  DISCOVERY_UNAVAILABLE: 503,
  HOST_KEY_MISMATCH: 409,
  PROBE_FAILED: 502,
  PROBE_ROOT_INVALID: 422,
};

export class DiscoveryError extends ControllerError {
  declare readonly code: DiscoveryErrorCode;
  constructor(code: DiscoveryErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, STATUS[code], message, { ...options, expose: true });
  }
}
