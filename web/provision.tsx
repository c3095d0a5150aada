/**
 * Provisioning from the UI: the form that makes a K3s cluster of discovered hosts (each given a
 * role) over SSH, and one cluster's page with its servers and agents (each with a link to its
 * service journal), where operators add a node, remove an agent or, while another
 * stays, a server (after a second, explicit confirmation) and upgrade K3s, and admins reset it (after a second confirmation too). Each of
 * these starts a job; the UI then opens that job's page, which follows its steps and log live.
 */
import { useLayoutEffect, useState } from 'preact/hooks';
import type { Cluster, ClusterHost, ClusterProvision, ClusterUpgrade } from '../src/api/clusters.js';
import type { Job } from '../src/api/jobs.js';
import { ApiError, canOperate, type Client } from './api.js';
import { ErrorLine, Outcome } from './outcome.js';
import { useAction, useLive, useShared } from './shared.js';
import { ListTable, StateBadge } from './table.js';

export type HostRole = '' | 'server' | 'agent';

/** A host picked for a cluster: its address (what SSH connects to), a name to show, its role. */
export interface Picked {
  address: string;
  label: string;
  role: 'server' | 'agent';
}

const enc = encodeURIComponent;
const openJob = (job: Job) => (location.hash = `#/jobs/${enc(job.id)}`);

/** The role picker of one host row. */
export function RoleSelect({ label, value, onChange }: { label: string; value: HostRole; onChange: (r: HostRole) => void }) {
  return (
    <select aria-label={`Role of ${label}`} value={value} onChange={(e) => onChange(e.currentTarget.value as HostRole)}>
      <option value="">not in the cluster</option>
      <option value="server">server</option>
      <option value="agent">agent</option>
    </select>
  );
}

/** The SSH login fields the API takes for a host (all optional: user pi, port 22, the daemon's key). */
function LoginFields(props: {
  user: string;
  port: string;
  identity: string;
  set: (k: 'user' | 'port' | 'identity', v: string) => void;
  userHint: string;
}) {
  return (
    <>
      <label>
        SSH user (optional)
        <input
          value={props.user}
          placeholder={props.userHint}
          autocomplete="off"
          onInput={(e) => props.set('user', e.currentTarget.value)}
        />
      </label>
      <label>
        SSH port (optional)
        <input value={props.port} inputMode="numeric" placeholder="22" onInput={(e) => props.set('port', e.currentTarget.value)} />
      </label>
      <label>
        SSH key file on the control plane (optional)
        <input
          value={props.identity}
          placeholder="/home/pi/.ssh/id_ed25519"
          onInput={(e) => props.set('identity', e.currentTarget.value)}
        />
      </label>
    </>
  );
}

/** The login part of a request: only what was filled in (a port that is no number goes as null, for the API to refuse). */
function login(f: { user: string; port: string; identity: string }): { user?: string; port?: number; identityFile?: string } {
  const port = f.port.trim();
  return {
    ...(f.user.trim() ? { user: f.user.trim() } : {}),
    ...(port ? { port: Number(port) } : {}),
    ...(f.identity.trim() ? { identityFile: f.identity.trim() } : {}),
  };
}

/** The cluster named `name`: declared now unless it exists (a retry after a refused provisioning reuses it). */
async function declared(client: Client, name: string): Promise<Cluster> {
  try {
    return await client.get<Cluster>(`/clusters/${enc(name)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    return client.req<Cluster>('POST', '/clusters', { name });
  }
}

/** The air-gap files the API takes (absolute paths on the control plane), with a key of their own for each form. */
function AirGapFields({
  f,
  set,
}: {
  f: { script: string; binary: string; images: string };
  set: (k: 'script' | 'binary' | 'images', v: string) => void;
}) {
  return (
    <details>
      <summary>Air-gapped install (files on the control plane)</summary>
      <div class="fields">
        <label>
          Install script
          <input value={f.script} placeholder="/srv/k3s/install.sh" onInput={(e) => set('script', e.currentTarget.value)} />
        </label>
        <label>
          K3s binary
          <input value={f.binary} placeholder="/srv/k3s/k3s" onInput={(e) => set('binary', e.currentTarget.value)} />
        </label>
        <label>
          Image archives (comma-separated)
          <input value={f.images} placeholder="/srv/k3s/images.tar" onInput={(e) => set('images', e.currentTarget.value)} />
        </label>
      </div>
    </details>
  );
}

/** Our agent on each node as a systemd unit, from the image layout of `npm run image` on the control plane. */
function AgentUnitFields({
  f,
  set,
}: {
  f: { agentImage: string; agentSim: boolean };
  set: (k: 'agentImage' | 'agentSim', v: string | boolean) => void;
}) {
  return (
    <details>
      <summary>pi-controller agent as a systemd unit (optional)</summary>
      <div class="fields">
        <label>
          Agent image directory (on the control plane)
          <input value={f.agentImage} placeholder="/srv/pi-controller/image" onInput={(e) => set('agentImage', e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={f.agentSim} onChange={(e) => set('agentSim', e.currentTarget.checked)} />
          Simulated hardware (nodes that are not Pis)
        </label>
      </div>
    </details>
  );
}

/** The `agent` part of a request: only when an image directory was given. */
function agentUnit(f: { agentImage: string; agentSim: boolean }): Pick<ClusterProvision, 'agent'> {
  return f.agentImage.trim() ? { agent: { image: f.agentImage.trim(), ...(f.agentSim ? { sim: true } : {}) } } : {};
}

/** The `airgap` part of a request: only when a file was given (the API refuses a partial set, naming the field). */
function airgap(f: { script: string; binary: string; images: string }): Pick<ClusterProvision, 'airgap'> {
  const images = f.images
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return f.script.trim() || f.binary.trim() || images.length
    ? { airgap: { installScript: f.script.trim(), binary: f.binary.trim(), images } }
    : {};
}

const EMPTY = {
  name: '',
  user: '',
  port: '',
  identity: '',
  version: '',
  script: '',
  binary: '',
  images: '',
  agentImage: '',
  agentSim: false,
};
type Field = keyof typeof EMPTY;

/** Creates a cluster of the picked hosts: servers in the order listed (the first one starts it), then agents. */
export function ProvisionForm({ picked }: { picked: Picked[] }) {
  const { client } = useShared();
  const [f, setF] = useState(EMPTY);
  const set = (k: Field, v: string | boolean) => setF((x) => ({ ...x, [k]: v }));
  const act = useAction();
  const servers = picked.filter((p) => p.role === 'server');
  const agents = picked.filter((p) => p.role === 'agent');
  const submit = async (e: Event) => {
    e.preventDefault();
    const body: ClusterProvision = {
      servers: servers.map((p) => p.address),
      ...(agents.length ? { agents: agents.map((p) => p.address) } : {}),
      ...(f.version.trim() ? { version: f.version.trim() } : {}),
      ...login(f),
      ...airgap(f),
      ...agentUnit(f),
    };
    await act.run(async () => {
      const c = await declared(client, f.name.trim());
      const job = await client.req<Job>('POST', `/clusters/${enc(c.id)}/provision`, body);
      openJob(job);
      return `Creating cluster ${c.name}: job ${job.id}.`;
    });
  };
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="provision-h">
      <h2 id="provision-h">Create a K3s cluster from these hosts</h2>
      <p class="hint" id="provision-help">
        Give each host a role in the list above. {servers.length} server{servers.length === 1 ? '' : 's'}
        {servers[0] ? ` (${servers[0].label} starts the cluster)` : ''}, {agents.length} agent{agents.length === 1 ? '' : 's'} picked. K3s
        is installed over SSH as a job; its page opens and follows it.
      </p>
      <div class="fields">
        <label>
          Cluster name
          <input
            value={f.name}
            required
            maxLength={63}
            pattern="[a-z0-9]([a-z0-9\-]*[a-z0-9])?"
            aria-describedby="provision-help"
            onInput={(e) => set('name', e.currentTarget.value)}
          />
        </label>
        <LoginFields user={f.user} port={f.port} identity={f.identity} set={set} userHint="pi" />
        <label>
          K3s version (optional)
          <input value={f.version} placeholder="v1.30.4+k3s1" onInput={(e) => set('version', e.currentTarget.value)} />
        </label>
      </div>
      <AirGapFields f={f} set={set} />
      <AgentUnitFields f={f} set={set} />
      <button type="submit" disabled={act.busy}>
        {act.busy ? 'Starting…' : 'Create cluster'}
      </button>
      <Outcome said={act.said} error={act.error} />
    </form>
  );
}

/**
 * A button whose action needs a second, explicit click: `ask` opens the choice between `yes` (runs
 * `onYes`) and `keep`; the focus moves to the choice and, kept, back to `ask`.
 */
function Confirmed(p: { id: string; ask: string; yes: string; keep: string; busy: boolean; onYes: () => Promise<unknown> }) {
  const [open, setOpen] = useState(false);
  const [focus, setFocus] = useState<string | null>(null);
  // In the commit that draws the choice (see the heading's focus in main.tsx): Enter pressed as soon
  // as the choice shows must land on it, not on the button it replaced.
  useLayoutEffect(() => {
    if (focus) document.getElementById(focus)?.focus();
  }, [focus, open]);
  return open ? (
    <span class="row">
      <button type="button" class="danger" id={`${p.id}-yes`} disabled={p.busy} onClick={() => void p.onYes().then(() => setOpen(false))}>
        {p.yes}
      </button>
      <button
        type="button"
        class="secondary"
        onClick={() => {
          setOpen(false);
          setFocus(p.id);
        }}
      >
        {p.keep}
      </button>
    </span>
  ) : (
    <button
      type="button"
      class="secondary"
      id={p.id}
      disabled={p.busy}
      onClick={() => {
        setOpen(true);
        setFocus(`${p.id}-yes`);
      }}
    >
      {p.ask}
    </button>
  );
}

/** One cluster: its state and hosts (each with its journal); add a node, remove one (a server while another stays), upgrade, reset. */
export function ClusterPage({ name }: { name: string }) {
  const { client, me } = useShared();
  const { data, error } = useLive(
    async () => {
      const c = await client.get<Cluster>(`/clusters/${enc(name)}`);
      // A control plane without provisioning has no hosts to show (503): the cluster still shows.
      const m = await client.get<{ items: ClusterHost[] }>(`/clusters/${enc(c.id)}/hosts`).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 503) return null;
        throw err;
      });
      return { c, m };
    },
    (e) => e.type.startsWith('cluster.') || e.type === 'job.updated',
  );
  const operate = canOperate(me.role);
  const act = useAction();
  const [up, setUp] = useState({ version: '', script: '', binary: '', images: '' });
  const upgrade = useAction();
  const [add, setAdd] = useState({
    host: '',
    role: 'agent' as 'server' | 'agent',
    user: '',
    port: '',
    identity: '',
    agentImage: '',
    agentSim: false,
  });
  // The add-node form says its own outcome beside it; remove and reset say theirs at the end of the page.
  const adding = useAction();
  const start = (what: string, path: string, body?: unknown, a = act) =>
    a.run(async () => {
      const job = await client.req<Job>('POST', `/clusters/${enc(data!.c.id)}/${path}`, body);
      openJob(job);
      return `${what}: job ${job.id}.`;
    });
  const c = data?.c;
  const rows = (data?.m?.items ?? []).map((x) => ({ h: x.host, role: x.role }));
  // A server can go while another stays (its etcd member leaves first); the last one only with a reset.
  const removable = (role: string) => role === 'agent' || rows.filter((r) => r.role === 'server').length > 1;
  return (
    <>
      <p class="crumbs">
        <a href="#/clusters">Clusters</a>
      </p>
      <h1 tabIndex={-1}>Cluster {name}</h1>
      <ErrorLine error={error} />
      {c && (
        <section class="card" aria-labelledby="cluster-h">
          <h2 id="cluster-h">State</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd data-testid="cluster-state">
              <StateBadge state={c.state} />
            </dd>
            <dt>K3s</dt>
            <dd>{c.k3sVersion ?? 'default'}</dd>
            <dt>HA</dt>
            <dd>{c.ha ? 'yes' : 'no'}</dd>
            {c.description && (
              <>
                <dt>Description</dt>
                <dd>{c.description}</dd>
              </>
            )}
          </dl>
        </section>
      )}
      {data && (
        <section aria-labelledby="members-h">
          <h2 id="members-h">Nodes ({rows.length})</h2>
          {rows.length === 0 && <p class="muted">No hosts yet: create the cluster from the Discovery page.</p>}
          {rows.length > 0 && (
            <ListTable
              rows={rows}
              rowKey={(r) => r.h}
              columns={[
                { label: 'Host', cell: (r) => r.h },
                { label: 'Role', cell: (r) => r.role },
                ...(operate
                  ? [
                      {
                        label: 'Journal',
                        hidden: true,
                        cell: (r: { h: string }) => (
                          <a href={`#/clusters/${enc(name)}/hosts/${enc(r.h)}/journal`}>
                            Journal<span class="sr-only"> of {r.h}</span>
                          </a>
                        ),
                      },
                      {
                        label: 'Actions',
                        hidden: true,
                        cell: (r: { h: string; role: string }) =>
                          removable(r.role) ? (
                            <Confirmed
                              id={`remove-${r.h}`}
                              ask={`Remove ${r.h}`}
                              yes={`Yes, remove ${r.h}`}
                              keep={`Keep ${r.h}`}
                              busy={act.busy}
                              onYes={() => start(`Removing ${r.h}`, 'remove-node', { host: r.h })}
                            />
                          ) : null,
                      },
                    ]
                  : []),
              ]}
            />
          )}
        </section>
      )}
      {c && operate && (
        <form
          class="card form"
          aria-labelledby="add-h"
          onSubmit={(e) => {
            e.preventDefault();
            void start(
              `Adding ${add.host.trim()}`,
              'add-node',
              {
                host: add.host.trim(),
                role: add.role,
                ...login(add),
                ...agentUnit(add),
              },
              adding,
            );
          }}
        >
          <h2 id="add-h">Add a node</h2>
          <div class="fields">
            <label>
              Host (name or address)
              <input value={add.host} required onInput={(e) => setAdd({ ...add, host: e.currentTarget.value })} />
            </label>
            <label>
              Role
              <select value={add.role} onChange={(e) => setAdd({ ...add, role: e.currentTarget.value as 'server' | 'agent' })}>
                <option value="agent">agent</option>
                <option value="server">server</option>
              </select>
            </label>
            <LoginFields
              user={add.user}
              port={add.port}
              identity={add.identity}
              set={(k, v) => setAdd({ ...add, [k]: v })}
              userHint="the first server's"
            />
          </div>
          <AgentUnitFields f={add} set={(k, v) => setAdd({ ...add, [k]: v })} />
          <button type="submit" disabled={adding.busy}>
            Add node
          </button>
          <Outcome said={adding.said} error={adding.error} />
        </form>
      )}
      {c && operate && (
        <form
          class="card form"
          aria-labelledby="upgrade-h"
          onSubmit={(e) => {
            e.preventDefault();
            const body: ClusterUpgrade = { version: up.version.trim(), ...airgap(up) };
            void upgrade.run(async () => {
              const job = await client.req<Job>('POST', `/clusters/${enc(c.id)}/upgrade`, body);
              openJob(job);
              return `Upgrading ${c.name} to ${body.version}: job ${job.id}.`;
            });
          }}
        >
          <h2 id="upgrade-h">Upgrade K3s</h2>
          <p class="hint" id="upgrade-help">
            Every node in turn, servers first: cordon, drain, install, wait until Ready at the version, uncordon. Stops at the first
            failure; nodes already at the version are skipped.
          </p>
          <div class="fields">
            <label>
              K3s version
              <input
                value={up.version}
                required
                maxLength={64}
                placeholder="v1.30.4+k3s1"
                spellcheck={false}
                aria-describedby="upgrade-help"
                onInput={(e) => setUp({ ...up, version: e.currentTarget.value })}
              />
            </label>
          </div>
          <AirGapFields f={up} set={(k, v) => setUp({ ...up, [k]: v })} />
          <button type="submit" disabled={upgrade.busy}>
            {upgrade.busy ? 'Starting…' : 'Upgrade'}
          </button>
          <Outcome said={upgrade.said} error={upgrade.error} />
        </form>
      )}
      {c && me.role === 'admin' && (
        <section class="card" aria-labelledby="reset-h">
          <h2 id="reset-h">Reset</h2>
          <p class="hint">Uninstalls K3s from every host (agents first) and forgets the kubeconfig and join token.</p>
          <Confirmed
            id="reset"
            ask={`Reset ${c.name}`}
            yes={`Yes, reset ${c.name}`}
            keep="Keep it"
            busy={act.busy}
            onYes={() => start(`Resetting ${c.name}`, 'reset')}
          />
        </section>
      )}
      <Outcome said={act.said} error={act.error} />
    </>
  );
}
