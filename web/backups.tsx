/** Backups (admin): the online backups in the data directory, and taking one now. */
import { useState } from 'preact/hooks';
import type { BackupInfo } from '../src/api/system.js';
import { ErrorLine, Outcome } from './outcome.js';
import { bytes, useAction, useLive, useShared, when } from './shared.js';
import { ListTable } from './table.js';

export function BackupsPage() {
  const { client } = useShared();
  const { data, error } = useLive(
    () => client.get<{ items: BackupInfo[] }>('/backups'),
    (e) => e.type === 'backup.created',
  );
  const [label, setLabel] = useState('');
  const create = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    await create.run(async () => {
      const b = await client.req<BackupInfo>('POST', '/backups', label.trim() ? { label: label.trim() } : {});
      setLabel('');
      return `Backup ${b.file} written (${bytes(b.bytes)}).`;
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
            ]}
          />
        )}
      </section>
    </>
  );
}
