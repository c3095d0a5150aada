/**
 * The web UI's shell: sign-in, navigation (hash routes: `#/`, `#/nodes/<name>`, `#/discovery`,
 * `#/clusters`, `#/clusters/<name>`, `#/clusters/<name>/hosts/<host>/journal`, `#/jobs`, `#/jobs/<id>`, `#/catalog`, `#/logs`, `#/logs/<node>`,
 * and for admins `#/tokens`, `#/backups`),
 * the event stream shared by every page, and sign-out. The token lives in sessionStorage only.
 */
import { render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, Client, followEvents, session, type EventEnvelope, type StreamState, type Whoami } from './api.js';
import { Ctx, useShownMark, type Shared } from './shared.js';
import { DASHBOARD_PATHS, Dashboard } from './dashboard.js';
import { PinsPage } from './pins.js';
import { DiscoveryPage } from './discovery.js';
import { JobPage, JobsPage } from './jobs.js';
import { ClustersPage } from './clusters.js';
import { ClusterPage } from './provision.js';
import { JournalPage } from './journal.js';
import { CatalogPage } from './catalog.js';
import { LogsPage } from './logs.js';
import { TokensPage } from './tokens.js';
import { BackupsPage } from './backups.js';
import './style.css';

type Route =
  | { page: 'dashboard' | 'discovery' | 'jobs' | 'clusters' | 'catalog' | 'tokens' | 'backups' }
  | { page: 'logs'; node: string | null }
  | { page: 'pins'; node: string }
  | { page: 'job'; id: string }
  | { page: 'cluster'; name: string }
  | { page: 'journal'; cluster: string; host: string };

const PAGES = ['discovery', 'jobs', 'clusters', 'catalog', 'tokens', 'backups'] as const;

function parseRoute(hash: string): Route {
  const m = /^#\/nodes\/([^/]+)$/.exec(hash);
  if (m) return { page: 'pins', node: decodeURIComponent(m[1]!) };
  const j = /^#\/jobs\/([^/]+)$/.exec(hash);
  if (j) return { page: 'job', id: decodeURIComponent(j[1]!) };
  const c = /^#\/clusters\/([^/]+)$/.exec(hash);
  if (c) return { page: 'cluster', name: decodeURIComponent(c[1]!) };
  const h = /^#\/clusters\/([^/]+)\/hosts\/([^/]+)\/journal$/.exec(hash);
  if (h) return { page: 'journal', cluster: decodeURIComponent(h[1]!), host: decodeURIComponent(h[2]!) };
  const l = /^#\/logs(?:\/([^/]+))?$/.exec(hash);
  if (l) return { page: 'logs', node: l[1] ? decodeURIComponent(l[1]) : null };
  const p = PAGES.find((x) => hash === `#/${x}`);
  return { page: p ?? 'dashboard' };
}

function SignIn({ onSignedIn, notice }: { onSignedIn: (c: Client, me: Whoami) => void; notice: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useShownMark('pc:signin', true);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const client = new Client(token.trim());
    try {
      const me = await client.get<Whoami>('/whoami');
      session.set(client.token, me);
      onSignedIn(client, me);
    } catch (err) {
      const e2 = err instanceof ApiError ? err : undefined;
      setError(
        e2?.status === 401
          ? `That token was refused (${e2.code}): ${e2.message}.`
          : `Could not sign in: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>pi-controller</h1>
      <form onSubmit={submit} aria-describedby="signin-help">
        <p id="signin-help">
          Sign in with an API token (<code>pct_…</code>): the admin token from the first start, or one from{' '}
          <code>pi-controller token create</code>. It is kept in this tab only.
        </p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error && (
          <p class="error" role="alert" id="signin-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

/** A page only an admin token may use, reached by its address with another token. */
function AdminOnly() {
  return (
    <>
      <h1 tabIndex={-1}>Admins only</h1>
      <p>This page needs an admin token; yours is not one.</p>
    </>
  );
}

const STATE_TEXT: Record<StreamState, string> = { connecting: 'connecting…', live: 'live', offline: 'offline, retrying' };

function Shell({ client, me, signOut }: { client: Client; me: Whoami; signOut: (notice?: string) => void }) {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [stream, setStream] = useState<StreamState>('connecting');
  const [recent, setRecent] = useState<EventEnvelope[]>([]);
  const listeners = useRef(new Set<(e: EventEnvelope) => void>());
  // In the commit that draws the first page, not after the paint (a plain effect): a route change made
  // as the page showed (a link followed at once after sign-in) fired its hashchange before a deferred
  // listener existed and was lost. The route is read again as the listener goes on, for the same reason.
  const shownHash = useRef(location.hash);
  useLayoutEffect(() => {
    const onHash = () => {
      if (location.hash === shownHash.current) return;
      shownHash.current = location.hash;
      setRoute(parseRoute(location.hash));
    };
    addEventListener('hashchange', onHash);
    onHash();
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(
    () =>
      followEvents(
        client.token,
        (e) => {
          setRecent((r) => [e, ...r].slice(0, 50));
          for (const l of listeners.current) l(e);
        },
        setStream,
      ),
    [client],
  );
  const shared = useMemo<Shared>(
    () => ({
      client,
      me,
      recent,
      subscribe: (fn) => {
        listeners.current.add(fn);
        return () => listeners.current.delete(fn);
      },
      // A token revoked or expired while signed in: back to the sign-in page, saying why.
      failed: (err) => {
        if (err instanceof ApiError && err.status === 401) signOut(`Signed out: ${err.message}.`);
      },
    }),
    [client, me, recent],
  );
  // Focus the new page's heading after navigation, for keyboard and screen reader users. A layout
  // effect, so the focus is there in the same commit that draws the page: with a deferred effect, a
  // key pressed as soon as the page shows (a fast typist, a busy machine) went to the old focus and
  // the effect then took it away from the field the user had tabbed to.
  const mainRef = useRef<HTMLElement>(null);
  useLayoutEffect(() => mainRef.current?.querySelector('h1')?.focus(), [route]);
  const current = (p: Route['page']) => (route.page === p ? { 'aria-current': 'page' as const } : {});
  return (
    <Ctx.Provider value={shared}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), mainRef.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">pi-controller</span>
        <nav aria-label="Main">
          <a href="#/" {...current('dashboard')}>
            Dashboard
          </a>
          <a href="#/discovery" {...current('discovery')}>
            Discovery
          </a>
          <a
            href="#/clusters"
            {...current('clusters')}
            {...(route.page === 'cluster' || route.page === 'journal' ? { 'aria-current': 'page' as const } : {})}
          >
            Clusters
          </a>
          <a href="#/jobs" {...current('jobs')} {...(route.page === 'job' ? { 'aria-current': 'page' as const } : {})}>
            Jobs
          </a>
          <a href="#/catalog" {...current('catalog')}>
            Catalog
          </a>
          <a href="#/logs" {...current('logs')}>
            Logs
          </a>
          {me.role === 'admin' && (
            <>
              <a href="#/tokens" {...current('tokens')}>
                Tokens
              </a>
              <a href="#/backups" {...current('backups')}>
                Backups
              </a>
            </>
          )}
        </nav>
        <span class="who">
          <span class={`dot ${stream}`} aria-hidden="true" />
          <span class="sr-only">Event stream:</span> {STATE_TEXT[stream]} · {me.name} ({me.role})
        </span>
        <button type="button" class="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {route.page === 'dashboard' && <Dashboard />}
        {route.page === 'pins' && <PinsPage node={route.node} key={route.node} />}
        {route.page === 'discovery' && <DiscoveryPage />}
        {route.page === 'clusters' && <ClustersPage />}
        {route.page === 'cluster' && <ClusterPage name={route.name} key={route.name} />}
        {route.page === 'journal' && <JournalPage cluster={route.cluster} host={route.host} key={`${route.cluster}/${route.host}`} />}
        {route.page === 'jobs' && <JobsPage />}
        {route.page === 'job' && <JobPage id={route.id} key={route.id} />}
        {route.page === 'catalog' && <CatalogPage />}
        {route.page === 'logs' && <LogsPage node={route.node} />}
        {route.page === 'tokens' && (me.role === 'admin' ? <TokensPage /> : <AdminOnly />)}
        {route.page === 'backups' && (me.role === 'admin' ? <BackupsPage /> : <AdminOnly />)}
      </main>
    </Ctx.Provider>
  );
}

function App() {
  // A reload with a token in this tab: the pages show at once (who it is was kept beside it) while
  // the token is checked again; a refused one signs out, saying why.
  const [auth, setAuth] = useState<{ client: Client; me: Whoami } | null>(() => {
    const token = session.get();
    const me = session.me();
    return token && me ? { client: new Client(token), me } : null;
  });
  const [checking, setChecking] = useState(() => session.get() !== null && auth === null);
  const [notice, setNotice] = useState<string | null>(null);
  const signOut = (why?: string) => {
    session.clear();
    setAuth(null);
    setNotice(why ?? null);
  };
  useEffect(() => {
    const token = session.get();
    if (!token) return;
    const client = new Client(token);
    client
      .get<Whoami>('/whoami')
      .then((me) => {
        session.set(token, me);
        setAuth((a) => (a && a.me.role === me.role && a.me.name === me.name ? a : { client, me }));
      })
      .catch((err: unknown) => {
        // Refused: sign out. Unreachable: keep the pages if they are showing (they retry), else sign in again.
        if (err instanceof ApiError && err.status === 401) signOut(`Signed out: ${err.message}.`);
        else if (!session.me()) signOut(`Could not check the session: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="boot">Checking your session…</p>;
  if (!auth) return <SignIn notice={notice} onSignedIn={(client, me) => (setNotice(null), setAuth({ client, me }))} />;
  return <Shell client={auth.client} me={auth.me} signOut={signOut} />;
}

/** The page's "Loading…" placeholder goes: the app owns the container from here. */
function start(): void {
  const root = document.getElementById('app')!;
  root.textContent = '';
  render(<App />, root);
}

// A returning user on the dashboard: its data is asked for now, and the first render waits for it
// (at most WAIT_MS, the HTML's "Loading" text showing meanwhile), so the page is built, laid out
// and painted once, with its data, instead of empty first and again when the data comes.
const WAIT_MS = 600;
const saved = session.get();
if (saved && session.me() && parseRoute(location.hash).page === 'dashboard') {
  const primed = new Client(saved).prime(DASHBOARD_PATHS);
  let started = false;
  const once = () => {
    if (started) return;
    started = true;
    start();
  };
  void primed.then(once);
  setTimeout(once, WAIT_MS);
} else start();
