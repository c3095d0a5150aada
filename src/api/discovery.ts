/** Discovery results: one record per machine seen by mDNS, a scan or DHCP leases (src/discovery). */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Labels, Name, Obj, StringEnum, Timestamp } from './common.js';
import { Address, Mac } from './nodes.js';

export const DiscoverySource = StringEnum(['mdns', 'scan', 'dhcp', 'manual']);

export type DiscoverySource = Static<typeof DiscoverySource>;

/**
 * Where a machine stands: found (`discovered`), its capabilities read over SSH (`probed`), being set up
 * (`provisioning`), a working node (`ready`), or not seen by a discovery run that would have seen it (`lost`).
 */
export const DiscoveryState = StringEnum(['discovered', 'probed', 'provisioning', 'ready', 'lost']);
export type DiscoveryState = Static<typeof DiscoveryState>;

/** One advertised mDNS service instance; names and TXT values are kept verbatim (they may hold any character). */
export const DiscoveredService = Obj({
  type: Type.String(),
  instance: Type.String(),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  txt: Type.Record(Type.String(), Type.String()),
});
export type DiscoveredService = Static<typeof DiscoveredService>;

/** What the SSH probe read (src/discovery/probe.ts). */
export const Capabilities = Obj({
  model: Type.Union([Type.String(), Type.Null()]),
  compatible: Type.Array(Type.String()),
  soc: Type.Union([Type.String(), Type.Null()]),
  revision: Type.Union([Type.String(), Type.Null()]),
  boardMemoryMb: Type.Union([Type.Integer(), Type.Null()]),
  memoryMb: Type.Union([Type.Integer(), Type.Null()]),
  cpus: Type.Integer({ minimum: 0 }),
  arch: Type.Union([Type.String(), Type.Null()]),
  os: Type.Union([Type.String(), Type.Null()]),
  kernel: Type.Union([Type.String(), Type.Null()]),
  bootMedia: StringEnum(['sd', 'usb', 'nvme', 'unknown']),
  warnings: Type.Array(Type.String()),
  cgroupMemory: Type.Boolean(),
  swapMb: Type.Integer({ minimum: 0 }),
  gpiochips: Type.Array(Type.String()),
  i2cBuses: Type.Array(Type.Integer()),
  k3s: Type.Boolean(),
});
export type Capabilities = Static<typeof Capabilities>;

export const DiscoveryResult = Obj({
  id: Id,
  /** The address last seen (IPv4 preferred). */
  address: Type.String(),
  mac: Type.Union([Mac, Type.Null()]),
  /** Whether the MAC carries a Raspberry Pi OUI. */
  raspberryPi: Type.Boolean(),
  /** As advertised or leased, verbatim: never a safe string for a shell or a terminal. */
  hostname: Type.Union([Type.String(), Type.Null()]),
  /** The source of the latest sighting. */
  source: DiscoverySource,
  /** Every source that has seen this machine. */
  sources: Type.Array(DiscoverySource),
  state: DiscoveryState,
  hostKeyFingerprint: Type.Union([Type.String(), Type.Null()]),
  sshBanner: Type.Union([Type.String(), Type.Null()]),
  services: Type.Array(DiscoveredService),
  model: Type.Union([Type.String(), Type.Null()]),
  /** From the last successful SSH probe. */
  capabilities: Type.Union([Capabilities, Type.Null()]),
  /** Problems that stop work on the machine, e.g. `HOST_KEY_MISMATCH`. */
  flags: Type.Array(Type.String()),
  nodeId: Type.Union([Id, Type.Null()]),
  firstSeenAt: Timestamp,
  lastSeenAt: Timestamp,
});
export type DiscoveryResult = Static<typeof DiscoveryResult>;

export const DiscoveryInput = Obj({
  address: Address,
  mac: Type.Optional(Mac),
  hostname: Type.Optional(Type.String({ maxLength: 253 })),
  source: DiscoverySource,
  model: Type.Optional(Type.String({ maxLength: 128 })),
});
export type DiscoveryInput = Static<typeof DiscoveryInput>;

export const AdoptBody = Obj({ name: Name, labels: Type.Optional(Labels) });

/** POST /discovery/scans: what one discovery run covers. Every part is optional; an empty body runs what the server is configured for. */
export const ScanRequest = Obj({
  cidr: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IPv4 range to scan for SSH, at most a /16' })),
  mdns: Type.Optional(Type.Boolean({ description: 'browse mDNS (default true)' })),
  leases: Type.Optional(Type.Boolean({ description: 'read the configured DHCP lease files (default true)' })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000, description: 'per-connect timeout and mDNS listening time' })),
});
export type ScanRequest = Static<typeof ScanRequest>;

export const ScanError = Obj({ source: DiscoverySource, code: Type.String(), message: Type.String() });

/** The outcome of one discovery run. */
export const ScanReport = Obj({
  startedAt: Timestamp,
  finishedAt: Timestamp,
  found: Type.Integer({ minimum: 0, description: 'machines seen for the first time' }),
  seen: Type.Integer({ minimum: 0, description: 'machines seen in this run' }),
  lost: Type.Integer({ minimum: 0, description: 'machines this run should have seen and did not' }),
  errors: Type.Array(ScanError),
  warnings: Type.Array(Type.String()),
  items: Type.Array(DiscoveryResult),
});
export type ScanReport = Static<typeof ScanReport>;
