/**
 * Backups (admin): the online backups in the data directory with the etcd snapshots taken with
 * them, and taking one now, optionally with an etcd snapshot of a provisioned cluster.
 */
import { useState } from 'preact/hooks';
import type { Cluster } from '../src/api/clusters.js';
import type { BackupInfo } from '../src/api/system.js';
import type { List } from './api.js';
import { ErrorLine, Outcome } from './outcome.js';
import { bytes, useAction, useLive, useShared, when } from './shared.js';
import { ListTable } from './table.js';

export function BackupsPage() {
  const { client } = useShared();
  const { data, error } = useLive(
    () => client.get<{ items: BackupInfo[] }>('/backups'),
    (e) => e.type === 'backup.created',
  );
  const clusters = useLive(
    () => client.get<List<Cluster>>('/clusters?limit=500'),
    (e) => e.type.startsWith('cluster.'),
  );
  const [label, setLabel] = useState('');
  const [etcd, setEtcd] = useState('');
  const create = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    await create.run(async () => {
      const b = await client.req<BackupInfo>('POST', '/backups', {
        ...(label.trim() ? { label: label.trim() } : {}),
        ...(etcd ? { etcdSnapshot: etcd } : {}),
      });
      setLabel('');
      const snaps = (b.etcdSnapshots ?? []).map((s) => ` with an etcd snapshot of ${s.cluster} (${bytes(s.bytes)})`).join('');
      return `Backup ${b.file} written (${bytes(b.bytes)})${snaps}.`;
    });
  };
  return (
    <>
      <h1 tabIndex={-1}>Backups</h1>
      <form class="card form" onSubmit={submit} aria-labelledby="new-backup-h">
        <h2 id="new-backup-h">Back up now</h2>
        <p class="hint">An online copy of the database (writes go on meanwhile), kept in the data directory's backups folder.</p>
        <div class="fields">
          <label>
            Label (optional: lower-case letters, digits, dashes)
            <input value={label} maxLength={32} pattern="[a-z0-9\-]{1,32}" onInput={(e) => setLabel(e.currentTarget.value)} />
          </label>
          <label>
            With an etcd snapshot of cluster
            <select value={etcd} aria-describedby="etcd-help" onChange={(e) => setEtcd(e.currentTarget.value)}>
              <option value="">none</option>
              {(clusters.data?.items ?? []).map((c) => (
                <option key={c.id} value={c.name}>
                  {c.name} ({c.state})
                </option>
              ))}
            </select>
            <span class="hint" id="etcd-help">
              taken on its first server over SSH and kept beside the backup
            </span>
          </label>
        </div>
        <button type="submit" disabled={create.busy}>
          {create.busy ? 'Backing up…' : 'Create backup'}
        </button>
        <Outcome said={create.said} error={create.error} />
      </form>
      <ErrorLine error={error} />
      <section aria-labelledby="backups-h">
        <h2 id="backups-h">Backups {data ? `(${data.items.length})` : ''}</h2>
        <p class="hint">
          The API has no download route: copy a file from the server's data directory, or restore it with <code>pi-controller restore</code>
          .
        </p>
        {data && data.items.length === 0 && <p class="muted">No backups yet.</p>}
        {data && data.items.length > 0 && (
          <ListTable
            rows={data.items}
            rowKey={(b) => b.file}
            columns={[
              { label: 'File', cell: (b) => <code class="wrap">{b.file}</code> },
              { label: 'Size', cell: (b) => bytes(b.bytes) },
              { label: 'Created', cell: (b) => when(b.createdAt) },
              { label: 'Schema', cell: (b) => `v${b.schemaVersion}` },
              {
                label: 'etcd snapshots',
                cell: (b) =>
                  b.etcdSnapshots?.length ? (
                    <ul class="plain">
                      {b.etcdSnapshots.map((s) => (
                        <li key={s.file}>
                          {s.cluster}: {bytes(s.bytes)}, sha256 <code title={s.sha256}>{s.sha256.slice(0, 12)}</code>, from {s.server}
                        </li>
                      ))}
                    </ul>
                  ) : (
                    '—'
                  ),
              },
            ]}
          />
        )}
      </section>
    </>
  );
}
