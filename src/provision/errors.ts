/** Typed errors of provisioning, each with a stable `code` (REST maps them through their `status`). */
import { ControllerError } from '../api/errors.js';

export type ProvisionErrorCode =
  /** The host presented a key other than the one pinned for it: nothing was sent, nothing ran. */
  | 'HOST_KEY_MISMATCH'
  /** TCP or SSH handshake failed, or the connection dropped. */
  | 'SSH_CONNECT_FAILED'
  | 'SSH_AUTH_FAILED'
  | 'SSH_DISCONNECTED'
  /** A command ran past its timeout and was killed. */
  | 'COMMAND_TIMEOUT'
  /** A command exited non-zero where success was required. */
  | 'COMMAND_FAILED'
  | 'SUDO_PASSWORD_REQUIRED'
  | 'SUDO_AUTH_FAILED'
  | 'UPLOAD_CHECKSUM_MISMATCH'
  | 'UPLOAD_FAILED'
  | 'DOWNLOAD_CHECKSUM_MISMATCH'
  | 'DOWNLOAD_FAILED'
  /** Journal: the host has no `journalctl`, or it failed (the message has its output). */
  | 'JOURNAL_FAILED'
  /** etcd snapshot: `k3s etcd-snapshot save` failed or named no file. */
  | 'ETCD_SNAPSHOT_FAILED'
  /** A value that cannot be used as a shell word at all (a NUL byte), or a bad option. */
  | 'INVALID_ARGUMENT'
  | 'JOB_KIND_UNKNOWN'
  | 'JOB_CANCELLED'
  | 'STEP_FAILED'
  /** Pi prep: the cgroup memory controller is still off after the reboot (the message says why). */
  | 'CGROUPS_NOT_ENABLED'
  | 'CMDLINE_NOT_FOUND'
  | 'CMDLINE_SPLIT'
  | 'REBOOT_TIMEOUT'
  /** K3s: not every Node became Ready before the deadline (the message lists the ones that did not). */
  | 'CLUSTER_NOT_READY'
  /** Lifecycle: the host is not a node of the cluster (as its succeeded jobs left it). */
  | 'NOT_A_MEMBER'
  /** Lifecycle: the host is a node of the cluster already. */
  | 'ALREADY_A_MEMBER'
  /** Lifecycle: the cluster has no provisioned hosts or join token yet. */
  | 'CLUSTER_NOT_PROVISIONED'
  /** Lifecycle: the cluster's only server cannot be removed (reset the cluster instead). */
  | 'LAST_SERVER'
  /** Lifecycle: K3s did not confirm a removed server's etcd member gone (its Node's `etcd.k3s.cattle.io/removed-node-name`) in time. */
  | 'ETCD_LEAVE_TIMEOUT'
  /** Lifecycle: another job of the cluster is queued or running, or its state does not allow it. */
  | 'CLUSTER_BUSY'
  /** Lifecycle: pods still ran on the node when the drain's deadline passed. */
  | 'DRAIN_TIMEOUT'
  /** Lifecycle: K3s files, units or processes are left on a host after its uninstall. */
  | 'HOST_NOT_CLEAN'
  /** Upgrade: the version is not a K3s release name (vX.Y.Z+k3sN). */
  | 'INVALID_VERSION'
  /** Restore: no backup or snapshot file of that name holds an etcd snapshot. */
  | 'SNAPSHOT_NOT_FOUND'
  /** Restore: the snapshot was taken of another cluster. */
  | 'SNAPSHOT_OF_ANOTHER_CLUSTER'
  /** Restore: the local snapshot's SHA-256 is not the one noted when it was taken. */
  | 'SNAPSHOT_CORRUPT'
  /** Restore: `k3s server --cluster-reset --cluster-reset-restore-path` failed, or K3s stopped after it. */
  | 'RESTORE_FAILED'
  /** Upgrade: the version is older than a node's, and the downgrade was not allowed. */
  | 'DOWNGRADE_REFUSED'
  /** Agent unit: the agent installed on a node did not connect to the control plane in time. */
  | 'AGENT_NOT_ONLINE'
  /** Agent unit: the daemon runs no agent endpoint to enrol an agent with. */
  | 'AGENTS_OFF';

const STATUS: Record<ProvisionErrorCode, number> = {
  HOST_KEY_MISMATCH: 409,
  SSH_CONNECT_FAILED: 502,
  SSH_AUTH_FAILED: 502,
  SSH_DISCONNECTED: 502,
  COMMAND_TIMEOUT: 504,
  COMMAND_FAILED: 502,
  SUDO_PASSWORD_REQUIRED: 422,
  SUDO_AUTH_FAILED: 422,
  UPLOAD_CHECKSUM_MISMATCH: 502,
  UPLOAD_FAILED: 502,
  DOWNLOAD_CHECKSUM_MISMATCH: 502,
  DOWNLOAD_FAILED: 502,
  JOURNAL_FAILED: 502,
  ETCD_SNAPSHOT_FAILED: 502,
  INVALID_ARGUMENT: 422,
  JOB_KIND_UNKNOWN: 422,
  JOB_CANCELLED: 409,
  STEP_FAILED: 502,
  CGROUPS_NOT_ENABLED: 422,
  CMDLINE_NOT_FOUND: 422,
  CMDLINE_SPLIT: 422,
  REBOOT_TIMEOUT: 504,
  CLUSTER_NOT_READY: 504,
  NOT_A_MEMBER: 404,
  ALREADY_A_MEMBER: 409,
  CLUSTER_NOT_PROVISIONED: 409,
  LAST_SERVER: 409,
  ETCD_LEAVE_TIMEOUT: 504,
  CLUSTER_BUSY: 409,
  DRAIN_TIMEOUT: 504,
  HOST_NOT_CLEAN: 502,
  INVALID_VERSION: 400,
  SNAPSHOT_NOT_FOUND: 404,
  SNAPSHOT_OF_ANOTHER_CLUSTER: 409,
  SNAPSHOT_CORRUPT: 422,
  RESTORE_FAILED: 502,
  DOWNGRADE_REFUSED: 409,
  AGENT_NOT_ONLINE: 504,
  AGENTS_OFF: 409,
};

/** Codes after which a retry cannot help (the host or its credentials must change first). */
export const PERMANENT: ReadonlySet<string> = new Set([
  'HOST_KEY_MISMATCH',
  'SSH_AUTH_FAILED',
  'SUDO_PASSWORD_REQUIRED',
  'SUDO_AUTH_FAILED',
  'INVALID_ARGUMENT',
  'JOB_KIND_UNKNOWN',
  'JOB_CANCELLED',
  'CGROUPS_NOT_ENABLED',
  'CMDLINE_NOT_FOUND',
  'CMDLINE_SPLIT',
  'NOT_A_MEMBER',
  'ALREADY_A_MEMBER',
  'CLUSTER_NOT_PROVISIONED',
  'LAST_SERVER',
  'CLUSTER_BUSY',
  'INVALID_VERSION',
  'SNAPSHOT_NOT_FOUND',
  'SNAPSHOT_OF_ANOTHER_CLUSTER',
  'SNAPSHOT_CORRUPT',
  'DOWNGRADE_REFUSED',
  'AGENTS_OFF',
]);

export class ProvisionError extends ControllerError {
  declare readonly code: ProvisionErrorCode;
  constructor(code: ProvisionErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, STATUS[code], message, { ...options, expose: true });
  }
}
