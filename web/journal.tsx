/**
 * A cluster host's service journal (operators): `GET /api/v1/clusters/{id}/hosts/{host}/journal`
 * (text/plain, journalctl over SSH on the host), the last N lines of a unit, and with Follow the
 * response kept open and read as it comes until Stop, or until the page is left (the fetch is
 * aborted, which ends journalctl on the host). Lines are text nodes; control characters are shown
 * as `\xNN`, never interpreted.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { canOperate } from './api.js';
import { ErrorLine } from './outcome.js';
import { errorText, useShared } from './shared.js';

const enc = encodeURIComponent;
/** Lines kept on the page (the oldest go first). */
const KEEP = 5000;

/** A journal line as text to show: C0 controls (but tab) and DEL as `\xNN` (an ESC is `\x1b`, never a colour). */
export function printable(line: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it looks for
  return line.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

interface Line {
  n: number;
  text: string;
}

export function JournalPage({ cluster, host }: { cluster: string; host: string }) {
  const { client, me, failed } = useShared();
  const [unit, setUnit] = useState('k3s');
  const [count, setCount] = useState('200');
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [following, setFollowing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [shownUnit, setShownUnit] = useState('k3s');
  const reading = useRef<AbortController | null>(null);
  const seq = useRef(0);

  /** Stops the request being read, if any. */
  const stop = () => {
    reading.current?.abort();
    reading.current = null;
    setFollowing(false);
    setBusy(false);
  };

  /** Reads the journal (the last `count` lines; with `follow`, then new ones until stopped). */
  const read = async (follow: boolean) => {
    stop();
    const abort = new AbortController();
    reading.current = abort;
    setError(null);
    setBusy(true);
    setFollowing(follow);
    seq.current = 0;
    setLines([]);
    setShownUnit(unit.trim());
    const q = new URLSearchParams({ unit: unit.trim(), lines: count.trim() || '0' });
    if (follow) q.set('follow', 'true');
    try {
      const r = await client.open(`/clusters/${enc(cluster)}/hosts/${enc(host)}/journal?${q.toString()}`, abort.signal);
      setBusy(false);
      const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const parts = (rest + value).split('\n');
        rest = parts.pop()!;
        if (parts.length) setLines((ls) => [...ls, ...parts.map((text) => ({ n: ++seq.current, text: printable(text) }))].slice(-KEEP));
      }
      if (rest) setLines((ls) => [...ls, { n: ++seq.current, text: printable(rest) }].slice(-KEEP));
    } catch (err) {
      if (abort.signal.aborted) return;
      failed(err);
      setError(errorText(err));
    } finally {
      if (reading.current === abort) {
        reading.current = null;
        setFollowing(false);
        setBusy(false);
      }
    }
  };

  useEffect(() => {
    if (canOperate(me.role)) void read(false);
    // Leaving the page stops a follow (and a read still under way).
    return () => reading.current?.abort();
  }, []);

  // Keep the newest line in view (unless the reader scrolled up).
  const logRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  const back = `#/clusters/${enc(cluster)}`;
  if (!canOperate(me.role))
    return (
      <>
        <p class="crumbs">
          <a href={back}>Cluster {cluster}</a>
        </p>
        <h1 tabIndex={-1}>Journal of {host}</h1>
        <p>A host's journal needs an operator or admin token; yours is a viewer's.</p>
      </>
    );
  return (
    <>
      <p class="crumbs">
        <a href="#/clusters">Clusters</a> / <a href={back}>{cluster}</a>
      </p>
      <h1 tabIndex={-1}>Journal of {host}</h1>
      <form
        class="card form"
        aria-labelledby="journal-h"
        onSubmit={(e) => {
          e.preventDefault();
          void read(false);
        }}
      >
        <h2 id="journal-h">Service journal</h2>
        <p class="hint" id="journal-help">
          <code>journalctl -u UNIT -n LINES</code> on the host over SSH, as root. K3s runs as <code>k3s</code> on servers and{' '}
          <code>k3s-agent</code> on agents.
        </p>
        <div class="fields">
          <label>
            Unit
            <input
              value={unit}
              required
              maxLength={1024}
              spellcheck={false}
              aria-describedby="journal-help"
              onInput={(e) => setUnit(e.currentTarget.value)}
            />
          </label>
          <label>
            Lines
            <input type="number" min={0} max={10000} value={count} inputMode="numeric" onInput={(e) => setCount(e.currentTarget.value)} />
          </label>
        </div>
        <span class="row">
          <button type="submit" disabled={busy || following}>
            Show
          </button>
          {following ? (
            <button type="button" class="secondary" onClick={stop}>
              Stop
            </button>
          ) : (
            <button type="button" class="secondary" disabled={busy} onClick={() => void read(true)}>
              Follow
            </button>
          )}
        </span>
        <p role="status" aria-live="polite" class="said">
          {following ? 'Following: new lines appear as the host logs them.' : ''}
        </p>
        <ErrorLine error={error} />
      </form>
      <section aria-labelledby="journal-lines-h" role="log">
        <h2 id="journal-lines-h">Output of {shownUnit}</h2>
        {lines.length === 0 ? (
          !error && <p class="muted">{busy ? 'Reading…' : 'No lines.'}</p>
        ) : (
          <ol class="log" ref={logRef} aria-label={`Journal of ${host}`} tabIndex={0} data-testid="journal">
            {lines.map((l) => (
              <li key={l.n}>{l.text}</li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
