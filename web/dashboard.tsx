/** The dashboard: nodes by state, agents online, each Pi's health, and the latest events. */
import { useEffect } from 'preact/hooks';
import type { NodeHealthHistory } from '../src/api/health.js';
import { ApiError, type AgentInfo, type List, type Node } from './api.js';
import { ago, describe, useLive, useShared, useShownMark } from './shared.js';
import { ErrorLine } from './outcome.js';
import { Sparkline } from './sparkline.js';
import { ListTable, StateBadge } from './table.js';

/** Health samples kept per node on the server come every 30 s at most: 60 are the last half hour or more. */
const HISTORY = '/health-history?samples=60';

const STATES = ['ready', 'notready', 'provisioning', 'discovered', 'error', 'retired'] as const;

type Health = NonNullable<AgentInfo['health']>;

function throttleText(h: Health | null | undefined): { text: string; bad: boolean } {
  const t = h?.throttled;
  if (!t) return { text: 'not reported', bad: false };
  const now = [
    t.underVoltage && 'under-voltage',
    t.throttled && 'throttled',
    t.frequencyCapped && 'frequency capped',
    t.softTempLimit && 'soft temperature limit',
  ].filter(Boolean);
  if (now.length) return { text: `now: ${now.join(', ')}`, bad: true };
  const past = [t.underVoltageOccurred && 'under-voltage', t.throttledOccurred && 'throttling'].filter(Boolean);
  return past.length ? { text: `ok now; since boot: ${past.join(', ')}`, bad: false } : { text: 'ok', bad: false };
}

/** What the dashboard loads first (main.tsx primes these for a returning user landing here). */
export const DASHBOARD_PATHS = ['/nodes?limit=1000', '/agents'];

/** How often the recent samples were under-voltage or throttled ("under-voltage in 3 of the last 60 samples"). */
function PastFlags({ samples }: { samples: NodeHealthHistory['samples'] }) {
  const uv = samples.filter((s) => s.underVoltage).length;
  const thr = samples.filter((s) => s.throttled || s.frequencyCapped).length;
  if (!uv && !thr) return null;
  const what = [uv && `under-voltage in ${uv}`, thr && `throttled in ${thr}`].filter(Boolean).join(', ');
  return <span class="sub">{`${what} of the last ${samples.length} samples`}</span>;
}

export function Dashboard() {
  const { client, recent } = useShared();
  const { data, error } = useLive(
    async () => {
      // Both at once; no agent link in this control plane means no agents, not an error.
      const [nodes, agents] = await Promise.all([
        client.get<List<Node>>(DASHBOARD_PATHS[0]!),
        client.get<List<AgentInfo>>(DASHBOARD_PATHS[1]!).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 503) return { items: [], total: 0 };
          throw err;
        }),
      ]);
      return { nodes: nodes.items, agents: agents.items };
    },
    (e) => e.type.startsWith('node.') || e.type.startsWith('agent.'),
    () => {
      // A returning user: main.tsx primed both and waited for them before the first render.
      // (No agent link answers 503: then the first load asks again and handles it.)
      const agents = client.take<List<AgentInfo>>(DASHBOARD_PATHS[1]!);
      const nodes = agents && client.take<List<Node>>(DASHBOARD_PATHS[0]!);
      return nodes && agents ? { nodes: nodes.items, agents: agents.items } : undefined;
    },
  );
  useShownMark('pc:dashboard-data', data !== undefined);
  // The history draws after the table (it is not part of the first useful paint) and follows the
  // samples: agent events, and every 30 s (a sample is taken at most that often).
  const history = useLive(
    () => client.get<{ items: NodeHealthHistory[] }>(HISTORY),
    (e) => e.type.startsWith('agent.'),
  );
  useEffect(() => {
    const timer = setInterval(() => history.reload(), 30_000);
    return () => clearInterval(timer);
  }, []);
  const samplesOf = new Map((history.data?.items ?? []).map((h) => [h.node, h.samples]));
  const byNode = new Map((data?.agents ?? []).map((a) => [a.node, a]));
  const online = data?.agents.filter((a) => a.connected).length ?? 0;
  return (
    <>
      <h1 tabIndex={-1}>Dashboard</h1>
      <ErrorLine error={error} />
      <section aria-labelledby="summary-h" class="cards">
        <h2 id="summary-h" class="sr-only">
          Summary
        </h2>
        <div class="card">
          <span class="big" data-testid="node-count">
            {data ? data.nodes.length : '…'}
          </span>
          <span>nodes</span>
          <ul class="states">
            {STATES.map((s) => {
              const n = data?.nodes.filter((x) => x.state === s).length ?? 0;
              return n ? (
                <li key={s}>
                  <span class={`state ${s}`}>{s}</span> {n}
                </li>
              ) : null;
            })}
          </ul>
        </div>
        <div class="card">
          <span class="big" data-testid="agents-online">
            {data ? `${online}/${data.agents.length}` : '…'}
          </span>
          <span>agents online</span>
        </div>
      </section>
      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">Nodes</h2>
        {data && data.nodes.length === 0 && <p>No nodes yet. Enrol a Pi's agent with a join token, or run a discovery scan.</p>}
        {data && data.nodes.length > 0 && (
          <ListTable
            class="nodes"
            rows={data.nodes}
            rowKey={(n) => n.id}
            columns={[
              {
                label: 'Node',
                cell: (n) => (
                  <>
                    <a href={`#/nodes/${encodeURIComponent(n.name)}`}>{n.name}</a>
                    {n.model && <span class="sub">{n.model}</span>}
                  </>
                ),
              },
              { label: 'State', cell: (n) => <StateBadge state={n.state} /> },
              {
                label: 'Agent',
                cell: (n) => {
                  const a = byNode.get(n.name);
                  return a?.connected ? (
                    <span class="ok">online{a.simulated ? ' (simulated)' : ''}</span>
                  ) : (
                    <span class="muted">offline{a?.since ? ` since ${ago(a.since)}` : ''}</span>
                  );
                },
              },
              {
                label: 'SoC temperature',
                cell: (n) => {
                  const t = byNode.get(n.name)?.health?.socTempC;
                  return (
                    <span class="temp">
                      {t != null ? `${t.toFixed(1)} °C` : '—'}
                      <Sparkline samples={samplesOf.get(n.name) ?? []} />
                    </span>
                  );
                },
              },
              {
                label: 'Power and throttling',
                cellClass: (n) => (throttleText(byNode.get(n.name)?.health).bad ? 'bad' : undefined),
                cell: (n) => (
                  <>
                    {throttleText(byNode.get(n.name)?.health).text}
                    <PastFlags samples={samplesOf.get(n.name) ?? []} />
                  </>
                ),
              },
            ]}
          />
        )}
      </section>
      <section aria-labelledby="events-h">
        <h2 id="events-h">Recent events</h2>
        {recent.length === 0 ? (
          <p class="muted">No events since you signed in; they appear here as they happen.</p>
        ) : (
          <ol class="events" aria-live="polite" aria-relevant="additions">
            {recent.slice(0, 15).map((e) => (
              <li key={e.seq}>
                <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> {describe(e)}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
