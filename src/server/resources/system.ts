/** /api/v1/system, /whoami, /audit, /backups. */
import { Type } from '@sinclair/typebox';
import { Obj } from '../../api/common.js';
import { ControllerError } from '../../api/errors.js';
import { AuditEntry, AuditQuery, BackupCreate, BackupInfo, SystemInfo } from '../../api/system.js';
import { WhoAmI } from '../../api/tokens.js';
import { route, type Resource } from '../routes.js';
import type { ResourceDeps } from '../deps.js';

export function systemResource({ store, version, startedAt }: ResourceDeps): Resource {
  return {
    prefix: '',
    tag: 'system',
    routes: [
      route({
        method: 'GET',
        path: '/system',
        role: 'viewer',
        summary: 'Version, uptime and counts',
        response: { status: 200, schema: SystemInfo },
        handler: () => ({
          status: 200,
          body: {
            name: 'pi-controller',
            version,
            node: process.version,
            platform: process.platform,
            arch: process.arch,
            uptimeSeconds: (Date.now() - startedAt.getTime()) / 1000,
            schemaVersion: store.schemaVersion(),
            startedAt: startedAt.toISOString(),
            counts: {
              nodes: store.nodes.list({ limit: 1 }).total,
              clusters: store.clusters.count(),
              jobs: store.jobs.list({ limit: 1 }).total,
              tokens: store.tokens.countActive(),
            },
          },
        }),
      }),
      route({
        method: 'GET',
        path: '/whoami',
        role: 'viewer',
        summary: 'The calling token',
        response: { status: 200, schema: WhoAmI },
        handler: ({ actor }) => ({ status: 200, body: { id: actor.id, name: actor.name, role: actor.role } }),
      }),
      route({
        method: 'GET',
        path: '/audit',
        role: 'admin',
        summary: 'Audit log, newest first',
        query: AuditQuery,
        response: { status: 200, schema: Obj({ items: Type.Array(AuditEntry) }) },
        handler: ({ query }) => ({ status: 200, body: { items: store.audit.list(query) } }),
      }),
    ],
  };
}

export function backupsResource({ backups, bus }: ResourceDeps): Resource {
  const need = () => {
    if (!backups) throw new ControllerError('UNAVAILABLE', 503, 'backups are not configured in this process');
    return backups;
  };
  return {
    prefix: '/backups',
    tag: 'backups',
    routes: [
      route({
        method: 'GET',
        path: '/',
        role: 'admin',
        summary: 'List backups in the data directory',
        response: { status: 200, schema: Obj({ items: Type.Array(BackupInfo) }) },
        handler: () => ({ status: 200, body: { items: need().list() } }),
      }),
      route({
        method: 'POST',
        path: '/',
        role: 'admin',
        summary: 'Take an online backup now (writes continue); with etcdSnapshot, also an etcd snapshot of that cluster over SSH',
        body: BackupCreate,
        response: { status: 201, schema: BackupInfo },
        audit: 'backup.create',
        transactional: false,
        handler: async ({ body, auditTarget }) => {
          const info = await need().create(body.label, body.etcdSnapshot !== undefined ? { etcdCluster: body.etcdSnapshot } : {});
          auditTarget(info.file);
          bus.emit('backup.created', info);
          return { status: 201, body: info };
        },
      }),
    ],
  };
}
