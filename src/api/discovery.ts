/** Discovery results: hosts seen by mDNS, a scan or DHCP leases (discovery itself arrives later). */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Labels, Name, Obj, StringEnum, Timestamp } from './common.js';
import { Address, Mac } from './nodes.js';

export const DiscoverySource = StringEnum(['mdns', 'scan', 'dhcp', 'manual']);

export const DiscoveryResult = Obj({
  id: Id,
  address: Address,
  mac: Type.Union([Mac, Type.Null()]),
  hostname: Type.Union([Type.String(), Type.Null()]),
  source: DiscoverySource,
  model: Type.Union([Type.String(), Type.Null()]),
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
