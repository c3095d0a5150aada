/** /api/v1/jobs: jobs and their logs (the provisioner that runs them arrives with its own issue). */
import { IdParams, ListOf, Obj } from '../../api/common.js';
import { Type } from '@sinclair/typebox';
import { Job, JobCreate, JobListQuery, JobLogLine, JobLogQuery } from '../../api/jobs.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function jobsResource({ store, bus }: ResourceDeps): Resource {
  return {
    prefix: '/jobs',
    tag: 'jobs',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'viewer',
        summary: 'List jobs, newest first',
        query: JobListQuery,
        response: { status: 200, schema: ListOf(Job) },
        handler: ({ query }) => ({ status: 200, body: store.jobs.list(query) }),
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'operator',
        summary: 'Queue a job',
        body: JobCreate,
        response: { status: 201, schema: Job },
        audit: 'job.create',
        handler: ({ body, actor, auditTarget }) => {
          if (body.target?.nodeId) store.nodes.require(body.target.nodeId);
          if (body.target?.clusterId) store.clusters.require(body.target.clusterId);
          const job = store.jobs.create(body, actor.name);
          auditTarget(job.id);
          bus.emit('job.created', job);
          return { status: 201, body: job };
        },
      }),
      route({
        method: 'GET',
        path: '/:id',
        role: 'viewer',
        summary: 'Get a job',
        params: IdParams,
        response: { status: 200, schema: Job },
        handler: ({ params }) => ({ status: 200, body: store.jobs.require(params.id) }),
      }),
      route({
        method: 'GET',
        path: '/:id/logs',
        role: 'viewer',
        summary: "A job's log lines after a sequence number",
        params: IdParams,
        query: JobLogQuery,
        response: { status: 200, schema: Obj({ items: Type.Array(JobLogLine) }) },
        handler: ({ params, query }) => ({
          status: 200,
          body: { items: store.jobs.logs(params.id, query.after ?? 0, query.limit ?? 1000) },
        }),
      }),
      route({
        method: 'POST',
        path: '/:id/cancel',
        role: 'operator',
        summary: 'Cancel a queued or running job',
        params: IdParams,
        response: { status: 200, schema: Job },
        audit: 'job.cancel',
        handler: ({ params, auditTarget }) => {
          auditTarget(params.id);
          const job = store.jobs.setState(params.id, 'cancelled');
          bus.emit('job.updated', job);
          return { status: 200, body: job };
        },
      }),
    ],
  };
}
