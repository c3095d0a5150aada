/** Jobs: long-running work (provisioning, backups) with streamed logs. */
import { Type, type Static } from '@sinclair/typebox';
import { Id, Obj, StringEnum, Timestamp } from './common.js';

export const JobState = StringEnum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobState = Static<typeof JobState>;

/** Dotted lower-case job kind, e.g. `node.prepare`, `cluster.install`. */
export const JobKind = Type.String({ pattern: '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*$', maxLength: 64 });

export const JobTarget = Obj({ nodeId: Type.Optional(Id), clusterId: Type.Optional(Id) });

export const Job = Obj({
  id: Id,
  kind: JobKind,
  state: JobState,
  target: JobTarget,
  params: Type.Record(Type.String(), Type.Unknown()),
  error: Type.Union([Type.String(), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Timestamp,
  startedAt: Type.Union([Timestamp, Type.Null()]),
  finishedAt: Type.Union([Timestamp, Type.Null()]),
});
export type Job = Static<typeof Job>;

export const JobCreate = Obj({
  kind: JobKind,
  target: Type.Optional(JobTarget),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type JobCreate = Static<typeof JobCreate>;

export const JobLogStream = StringEnum(['stdout', 'stderr', 'info']);
export const JobLogLine = Obj({ seq: Type.Integer({ minimum: 1 }), at: Timestamp, stream: JobLogStream, line: Type.String() });
export type JobLogLine = Static<typeof JobLogLine>;

export const JobListQuery = Obj({
  state: Type.Optional(JobState),
  kind: Type.Optional(JobKind),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type JobListQuery = Static<typeof JobListQuery>;

export const JobLogQuery = Obj({
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'return lines with seq greater than this' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
});
