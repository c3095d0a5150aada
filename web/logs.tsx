/**
 * Logs: a node agent's own recent log lines (`GET /api/v1/agents/{node}/logs`), the last 200 kept
 * first, then followed: asked for the lines after the last one shown every 2 s while the page is
 * open. An agent that is offline says so (its code) and is asked again.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AgentLogLines } from '../src/api/agent.js';
import { type List, type Node } from './api.js';
import { ErrorLine } from './outcome.js';
import { errorText, useLive, useShared } from './shared.js';

const EVERY_MS = 2000;
const KEEP = 500;
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

interface Shown {
  seq: number;
  at: string;
  level: string;
  text: string;
}

/** One JSON line of the agent's logger: time, level, component, message, the rest as JSON. */
function shown(seq: number, line: string): Shown {
  try {
    const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return {
      seq,
      at: typeof time === 'number' ? new Date(time).toLocaleTimeString() : '',
      level: LEVELS[Number(level)] ?? String(level ?? ''),
      text: `${String(component ?? '-')}: ${String(msg ?? '')}${extra}`,
    };
  } catch {
    return { seq, at: '', level: '', text: line };
  }
}

export function LogsPage({ node }: { node: string | null }) {
  const { client } = useShared();
  const nodes = useLive(
    () => client.get<List<Node>>('/nodes?limit=500'),
    (e) => e.type === 'node.created' || e.type === 'node.deleted',
  );
  return (
    <>
      <h1 tabIndex={-1}>Logs{node ? ` of ${node}` : ''}</h1>
      <ErrorLine error={nodes.error} />
      <label for="log-node">Node</label>
      <select
        id="log-node"
        class="narrow"
        value={node ?? ''}
        onChange={(e) => (location.hash = `#/logs/${encodeURIComponent(e.currentTarget.value)}`)}
      >
        <option value="" disabled>
          choose a node
        </option>
        {(nodes.data?.items ?? []).map((n) => (
          <option key={n.id} value={n.name}>
            {n.name}
          </option>
        ))}
      </select>
      {node && <Follow node={node} key={node} />}
    </>
  );
}

function Follow({ node }: { node: string }) {
  const { client, failed } = useShared();
  const [lines, setLines] = useState<Shown[]>([]);
  const [error, setError] = useState<string | null>(null);
  const last = useRef<number | null>(null);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const path = `/agents/${encodeURIComponent(node)}/logs`;
    const tick = async () => {
      try {
        const r = await client.get<AgentLogLines>(
          last.current === null ? `${path}?limit=1000` : `${path}?after=${last.current}&limit=1000`,
        );
        if (!alive) return;
        setError(null);
        const fresh = r.lines.filter((l) => last.current === null || l.seq > last.current);
        if (last.current === null) last.current = r.last;
        if (fresh.length) {
          last.current = fresh[fresh.length - 1]!.seq;
          setLines((ls) => [...ls, ...fresh.map((l) => shown(l.seq, l.line))].slice(-KEEP));
        }
      } catch (err) {
        if (!alive) return;
        failed(err);
        setError(errorText(err));
      }
      if (alive) timer = setTimeout(() => void tick(), EVERY_MS);
    };
    void tick();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [node]);
  const logRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines.length]);
  return (
    <section aria-labelledby="agent-log-h" role="log">
      <h2 id="agent-log-h">Agent log (following)</h2>
      <ErrorLine error={error} />
      {lines.length === 0 ? (
        <p class="muted">No lines yet; they appear here as the agent writes them.</p>
      ) : (
        <ol class="log" ref={logRef} aria-label={`Agent log of ${node}`} tabIndex={0}>
          {lines.map((l) => (
            <li key={l.seq} class={l.level === 'warn' || l.level === 'error' || l.level === 'fatal' ? 'stderr' : 'stdout'}>
              <time>{l.at}</time> <span class="lvl">{l.level}</span> {l.text}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
