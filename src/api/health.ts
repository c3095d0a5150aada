/** Pi health history: a bounded series of samples per node from its agent's health reports. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Obj, Timestamp } from './common.js';

export const HealthSample = Obj({
  at: Timestamp,
  socTempC: Type.Union([Type.Number(), Type.Null()]),
  /** The firmware's flags at that time; null where the board does not report them. */
  underVoltage: Type.Union([Type.Boolean(), Type.Null()]),
  throttled: Type.Union([Type.Boolean(), Type.Null()]),
  frequencyCapped: Type.Union([Type.Boolean(), Type.Null()]),
});
export type HealthSample = Static<typeof HealthSample>;

export const NodeHealthHistory = Obj({
  node: Name,
  nodeId: Id,
  /** Oldest first. */
  samples: Type.Array(HealthSample),
});
export type NodeHealthHistory = Static<typeof NodeHealthHistory>;

export const HealthHistoryQuery = Obj({
  samples: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'the latest N samples per node (default 60)' })),
});
export type HealthHistoryQuery = Static<typeof HealthHistoryQuery>;
