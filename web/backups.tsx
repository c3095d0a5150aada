/** Backups (admin): the online backups in the data directory, and taking one now. */
import { useState } from 'preact/hooks';
import type { BackupInfo } from '../src/api/system.js';
import { Outcome } from './outcome.js';
import { bytes, useAction, useLive, useShared, when } from './shared.js';

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
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <section aria-labelledby="backups-h">
        <h2 id="backups-h">Backups {data ? `(${data.items.length})` : ''}</h2>
        <p class="hint">
          The API has no download route: copy a file from the server's data directory, or restore it with <code>pi-controller restore</code>
          .
        </p>
        {data && data.items.length === 0 && <p class="muted">No backups yet.</p>}
        {data && data.items.length > 0 && (
          <div class="scroll">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Size</th>
                  <th scope="col">Created</th>
                  <th scope="col">Schema</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((b) => (
                  <tr key={b.file}>
                    <th scope="row">
                      <code class="wrap">{b.file}</code>
                    </th>
                    <td data-label="Size">{bytes(b.bytes)}</td>
                    <td data-label="Created">{when(b.createdAt)}</td>
                    <td data-label="Schema">v{b.schemaVersion}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
