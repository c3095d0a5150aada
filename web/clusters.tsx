/**
 * Clusters: the K3s clusters the control plane knows, live, and (operators) a form that declares
 * one with `POST /api/v1/clusters`.
 */
import { useState } from 'preact/hooks';
import type { Cluster } from '../src/api/clusters.js';
import { canOperate, type List } from './api.js';
import { ErrorLine, Outcome } from './outcome.js';
import { ago, useAction, useLive, useShared } from './shared.js';
import { ListTable, StateBadge } from './table.js';

export function ClustersPage() {
  const { client, me } = useShared();
  const { data, error } = useLive(
    () => client.get<List<Cluster>>('/clusters?limit=500'),
    (e) => e.type.startsWith('cluster.'),
  );
  const [name, setName] = useState('');
  const [version, setVersion] = useState('');
  const [ha, setHa] = useState(false);
  const [description, setDescription] = useState('');
  const create = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = {
      name: name.trim(),
      ha,
      ...(version.trim() ? { k3sVersion: version.trim() } : {}),
      ...(description.trim() ? { description: description.trim() } : {}),
    };
    const ok = await create.run(async () => `Cluster ${(await client.req<Cluster>('POST', '/clusters', body)).name} declared.`);
    if (ok) {
      setName('');
      setVersion('');
      setDescription('');
      setHa(false);
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>Clusters</h1>
      {canOperate(me.role) && (
        <form class="card form" onSubmit={submit} aria-labelledby="new-cluster-h">
          <h2 id="new-cluster-h">New cluster</h2>
          <div class="fields">
            <label>
              Name
              <input
                value={name}
                required
                maxLength={63}
                pattern="[a-z0-9]([a-z0-9\-]*[a-z0-9])?"
                aria-describedby="cluster-name-hint"
                onInput={(e) => setName(e.currentTarget.value)}
              />
              <span class="hint" id="cluster-name-hint">
                lower-case letters, digits and dashes
              </span>
            </label>
            <label>
              K3s version (optional)
              <input value={version} placeholder="v1.30.4+k3s1" onInput={(e) => setVersion(e.currentTarget.value)} />
            </label>
            <label>
              Description (optional)
              <input value={description} maxLength={1024} onInput={(e) => setDescription(e.currentTarget.value)} />
            </label>
            <label class="check">
              <input type="checkbox" checked={ha} onChange={(e) => setHa(e.currentTarget.checked)} /> Highly available (three servers)
            </label>
          </div>
          <button type="submit" disabled={create.busy}>
            {create.busy ? 'Declaring…' : 'Declare cluster'}
          </button>
          <Outcome said={create.said} error={create.error} />
        </form>
      )}
      <ErrorLine error={error} />
      <section aria-labelledby="clusters-h">
        <h2 id="clusters-h">Clusters {data ? `(${data.total})` : ''}</h2>
        {data && data.items.length === 0 && <p class="muted">No clusters yet.</p>}
        {data && data.items.length > 0 && (
          <ListTable
            rows={data.items}
            rowKey={(c) => c.id}
            columns={[
              {
                label: 'Cluster',
                cell: (c) => (
                  <>
                    <a href={`#/clusters/${encodeURIComponent(c.name)}`}>{c.name}</a>
                    {c.description && <span class="sub">{c.description}</span>}
                  </>
                ),
              },
              { label: 'State', cell: (c) => <StateBadge state={c.state} /> },
              { label: 'K3s', cell: (c) => c.k3sVersion ?? 'default' },
              { label: 'HA', cell: (c) => (c.ha ? 'yes' : 'no') },
              { label: 'Created', cell: (c) => ago(c.createdAt) },
            ]}
          />
        )}
      </section>
    </>
  );
}
