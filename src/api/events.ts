/** The typed event map: event name to payload type. Used by the bus, the WebSocket stream and clients. */
import type { Node } from './nodes.js';
import type { Cluster } from './clusters.js';
import type { Job, JobLogLine } from './jobs.js';
import type { TokenInfo } from './tokens.js';
import type { DiscoveryResult, ScanReport } from './discovery.js';
import type { BackupInfo } from './system.js';
import type { HwKind } from './hardware.js';

export interface EventMap {
  'node.created': Node;
  'node.updated': Node;
  'node.deleted': { id: string; name: string };
  'cluster.created': Cluster;
  'cluster.updated': Cluster;
  'cluster.deleted': { id: string; name: string };
  'job.created': Job;
  'job.updated': Job;
  'job.log': { jobId: string; line: JobLogLine };
  'hw.changed': { nodeId: string; kind: HwKind; name: string; generation: number; deleted: boolean };
  /** A node's agent reported on a generation of a desired object (its status is stored). */
  'hw.applied': { nodeId: string; node: string; kind: HwKind; name: string; generation: number; phase: string; reason: string };
  'token.created': TokenInfo;
  'token.revoked': { id: string; name: string };
  'discovery.found': DiscoveryResult;
  /** A discovered machine changed (new address, source, services, or became `lost`). */
  'discovery.updated': DiscoveryResult;
  /** A discovery run ended (its counts and per-source errors). */
  'discovery.finished': Pick<ScanReport, 'startedAt' | 'finishedAt' | 'found' | 'seen' | 'lost' | 'errors'>;
  'backup.created': BackupInfo;
  /** `soc`: the SoC family the agent detected (or was told to simulate), from its hello. */
  'agent.connected': { nodeId: string; node: string; agentVersion: string; simulated: boolean; soc?: string; model?: string };
  'agent.disconnected': { nodeId: string; node: string };
  /** A link or message the agent endpoint refused (node null when the peer was not identified), or a message an agent refused. */
  'agent.refused': { node: string | null; reason: string; message: string };
  /**
   * A GPIO level changed on a node (applied output, or an input seen by the agent). For an input
   * watched for edges, one event sums many: `edges` is how many since the previous event of that
   * pin (at most 10 such events a second per agent) and `lastEdgeAt` when the last one came.
   */
  'gpio.changed': { nodeId: string; node: string; pin: number; value: number; name: string | null; edges?: number; lastEdgeAt?: string };
  /**
   * New readings of an I2C device on a node (`name`: its store object). The agent reports when a
   * value changed, at most once a second, and at least every 30 s while it polls.
   */
  'i2c.reading': { nodeId: string; node: string; name: string; readings: Record<string, unknown>; readAt: string | null };
  /** Sent only on the WebSocket stream, to a client whose events were dropped because it read too slowly. */
  'stream.dropped': { count: number; firstSeq: number; lastSeq: number };
}
export type EventType = keyof EventMap;

/** What a subscriber (and a WebSocket client) receives. */
export interface EventEnvelope<K extends EventType = EventType> {
  /** Monotonic sequence number (persisted: it survives a restart). */
  seq: number;
  at: string;
  type: K;
  data: EventMap[K];
}

export const EVENT_TYPES: readonly EventType[] = [
  'node.created',
  'node.updated',
  'node.deleted',
  'cluster.created',
  'cluster.updated',
  'cluster.deleted',
  'job.created',
  'job.updated',
  'job.log',
  'hw.changed',
  'hw.applied',
  'token.created',
  'token.revoked',
  'discovery.found',
  'discovery.updated',
  'discovery.finished',
  'backup.created',
  'agent.connected',
  'agent.disconnected',
  'agent.refused',
  'gpio.changed',
  'i2c.reading',
];
