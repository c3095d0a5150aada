/**
 * Catalog: the service catalog's entries, and its installs on a cluster (the configured one, or a
 * provisioned one by name) with their workloads' readiness, asked again every 5 s. Admins install
 * an entry (with a storage choice when it keeps data) and remove an install after a confirmation.
 * A refusal shows the API's code and message; an image no node can run also shows its platforms.
 */
import { useEffect, useState } from 'preact/hooks';
import type { CatalogInstall, CatalogItem, InstallResult, RemoveResult } from '../src/api/catalog.js';
import type { Cluster } from '../src/api/clusters.js';
import { ApiError, type List } from './api.js';
import { ErrorLine } from './outcome.js';
import { errorText, useAction, useLive, useShared } from './shared.js';
import { ListTable, StateBadge } from './table.js';

const EVERY_MS = 5000;

/** The refusal as a line, and for PLATFORM_UNSUPPORTED the image, its platforms and the nodes'. */
function refusal(err: unknown): string {
  const d =
    err instanceof ApiError ? (err.details as { image?: string; platforms?: string[]; nodePlatforms?: string[] } | undefined) : undefined;
  if (err instanceof ApiError && err.code === 'PLATFORM_UNSUPPORTED' && d?.image)
    return `${errorText(err)} (image ${d.image}; built for ${d.platforms?.join(', ') || 'no platform'}; nodes: ${d.nodePlatforms?.join(', ') || 'none'})`;
  return errorText(err);
}

export function CatalogPage() {
  const { client, me, failed } = useShared();
  const admin = me.role === 'admin';
  const entries = useLive(
    () => client.get<List<CatalogItem>>('/catalog'),
    () => false,
  );
  const clusters = useLive(
    () => client.get<List<Cluster>>('/clusters?limit=500'),
    (e) => e.type.startsWith('cluster.'),
  );
  const [cluster, setCluster] = useState('');
  const [installs, setInstalls] = useState<CatalogInstall[] | null>(null);
  const [installsError, setInstallsError] = useState<string | null>(null);
  const [storage, setStorage] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState<string | null>(null);
  const [result, setResult] = useState<{ said: string | null; error: string | null; busy: boolean }>({
    said: null,
    error: null,
    busy: false,
  });
  const remove = useAction();
  const q = cluster ? `?cluster=${encodeURIComponent(cluster)}` : '';
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await client.get<List<CatalogInstall>>(`/catalog/installs${q}`);
        if (alive) {
          setInstalls(r.items);
          setInstallsError(null);
        }
      } catch (err) {
        if (!alive) return;
        failed(err);
        setInstalls(null);
        setInstallsError(errorText(err));
      }
      if (alive) timer = setTimeout(() => void load(), EVERY_MS);
    };
    void load();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [q, tick]);
  const install = async (item: CatalogItem) => {
    setResult({ said: null, error: null, busy: true });
    try {
      const body = {
        name: item.name,
        ...(cluster ? { cluster } : {}),
        ...(item.storage && storage[item.name] ? { storage: storage[item.name] } : {}),
      };
      const r = await client.req<InstallResult>('POST', '/catalog/installs', body);
      const i = r.install;
      setResult({
        said: `Installed ${i.name} ${i.version} on ${i.cluster} in namespace ${i.namespace}.${r.notes ? ` ${r.notes}` : ''}`,
        error: null,
        busy: false,
      });
      setTick((n) => n + 1);
    } catch (err) {
      failed(err);
      setResult({ said: null, error: refusal(err), busy: false });
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>Catalog</h1>
      <label for="catalog-cluster">Cluster</label>
      <select id="catalog-cluster" class="narrow" value={cluster} onChange={(e) => (setCluster(e.currentTarget.value), setInstalls(null))}>
        <option value="">the configured cluster (default)</option>
        {(clusters.data?.items ?? []).map((c) => (
          <option key={c.id} value={c.name}>
            {c.name}
          </option>
        ))}
      </select>
      <ErrorLine error={entries.error} />
      <section aria-labelledby="entries-h">
        <h2 id="entries-h">Entries {entries.data ? `(${entries.data.total})` : ''}</h2>
        {entries.data && entries.data.items.length === 0 && <p class="muted">The catalog is empty.</p>}
        {entries.data && entries.data.items.length > 0 && (
          <ListTable
            rows={entries.data.items}
            rowKey={(e) => e.name}
            columns={[
              {
                label: 'Entry',
                cell: (e) => (
                  <>
                    {e.name}
                    <span class="sub">{e.description}</span>
                  </>
                ),
              },
              { label: 'Version', cell: (e) => e.version },
              { label: 'Images', cell: (e) => <code class="wrap">{e.images.join(' ')}</code> },
              { label: 'Keeps data', cell: (e) => (e.storage ? 'yes' : 'no') },
              ...(admin
                ? [
                    {
                      label: 'Install',
                      hidden: true,
                      cell: (e: CatalogItem) => (
                        <span class="row">
                          {e.storage && (
                            <select
                              aria-label={`Storage for ${e.name}`}
                              value={storage[e.name] ?? ''}
                              onChange={(ev) => setStorage({ ...storage, [e.name]: ev.currentTarget.value })}
                            >
                              <option value="">storage: the default</option>
                              <option value="local-path">local-path volume</option>
                              <option value="emptyDir">emptyDir (lost with the pod)</option>
                            </select>
                          )}
                          <button type="button" disabled={result.busy} onClick={() => void install(e)}>
                            Install {e.name}
                          </button>
                        </span>
                      ),
                    },
                  ]
                : []),
            ]}
          />
        )}
        <p role="status" aria-live="polite" class="said">
          {result.said ?? ''}
        </p>
        <ErrorLine error={result.error} />
      </section>
      <section aria-labelledby="installs-h">
        <h2 id="installs-h">Installs on {cluster || 'the configured cluster'}</h2>
        <ErrorLine error={installsError} />
        {installs && installs.length === 0 && <p class="muted">Nothing installed.</p>}
        {installs && installs.length > 0 && (
          <ListTable
            rows={installs}
            rowKey={(i) => i.name}
            columns={[
              {
                label: 'Install',
                cell: (i) => (
                  <>
                    {i.name}
                    <span class="sub">namespace {i.namespace}</span>
                  </>
                ),
              },
              { label: 'Version', cell: (i) => i.version },
              { label: 'State', cell: (i) => <StateBadge state={i.state} /> },
              { label: 'Storage', cell: (i) => i.storage },
              {
                label: 'Workloads',
                cell: (i) =>
                  i.workloads
                    .map((w) => `${w.name} ${w.ready}/${w.desired}${w.affinity ? ` (${w.affinity.join(', ')} only)` : ''}`)
                    .join('; '),
              },
              ...(admin
                ? [
                    {
                      label: 'Actions',
                      hidden: true,
                      cell: (i: CatalogInstall) =>
                        confirming === i.name ? (
                          <span class="row">
                            <button
                              type="button"
                              class="danger"
                              disabled={remove.busy}
                              onClick={() =>
                                void remove
                                  .run(async () => {
                                    const r = await client.req<RemoveResult>(
                                      'DELETE',
                                      `/catalog/installs/${encodeURIComponent(i.name)}${q}`,
                                    );
                                    setTick((n) => n + 1);
                                    return `Removed ${r.name} from ${r.cluster}: ${r.deleted.length} objects deleted.`;
                                  })
                                  .then(() => setConfirming(null))
                              }
                            >
                              Yes, remove {i.name}
                            </button>
                            <button type="button" class="secondary" onClick={() => setConfirming(null)}>
                              Keep
                            </button>
                          </span>
                        ) : (
                          <button type="button" class="secondary" onClick={() => setConfirming(i.name)}>
                            Remove {i.name}
                          </button>
                        ),
                    },
                  ]
                : []),
            ]}
          />
        )}
        <p role="status" aria-live="polite" class="said">
          {remove.said ?? ''}
        </p>
        <ErrorLine error={remove.error} />
      </section>
    </>
  );
}
