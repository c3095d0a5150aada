/**
 * Jobs: the list, newest first, and one job's page with its log following live over the event
 * stream (`job.log` lines appended as they come, `job.updated` for its state). Operators may
 * cancel a queued or running job.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Job, JobLogLine } from '../src/api/jobs.js';
import { canOperate, type List } from './api.js';
import { ErrorLine, Outcome } from './outcome.js';
import { ago, useAction, useLive, useShared, when } from './shared.js';
import { ListTable, StateBadge } from './table.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

export function JobsPage() {
  const { client } = useShared();
  const { data, error } = useLive(
    () => client.get<List<Job>>('/jobs?limit=200'),
    (e) => e.type === 'job.created' || e.type === 'job.updated',
  );
  return (
    <>
      <h1 tabIndex={-1}>Jobs</h1>
      <ErrorLine error={error} />
      <section aria-labelledby="jobs-h">
        <h2 id="jobs-h">Jobs {data ? `(${data.total})` : ''}</h2>
        {data && data.items.length === 0 && <p class="muted">No jobs yet. Provisioning and cluster installs run as jobs and show here.</p>}
        {data && data.items.length > 0 && (
          <ListTable
            rows={data.items}
            rowKey={(j) => j.id}
            columns={[
              {
                label: 'Job',
                cell: (j) => (
                  <>
                    <a href={`#/jobs/${encodeURIComponent(j.id)}`}>{j.kind}</a>
                    <span class="sub">{j.id.slice(0, 8)}</span>
                  </>
                ),
              },
              { label: 'State', cell: (j) => <StateBadge state={j.state} /> },
              { label: 'Created by', cell: (j) => j.createdBy },
              { label: 'Created', cell: (j) => ago(j.createdAt) },
              { label: 'Finished', cell: (j) => (j.finishedAt ? ago(j.finishedAt) : '—') },
            ]}
          />
        )}
      </section>
    </>
  );
}

export function JobPage({ id }: { id: string }) {
  const { client, me, subscribe, failed } = useShared();
  const [job, setJob] = useState<Job | null>(null);
  const [lines, setLines] = useState<JobLogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const last = useRef(0);
  const cancel = useAction();
  useEffect(() => {
    let alive = true;
    // Lines after the last one shown; a gap in the live lines (a reconnect) is filled from here too.
    const fetchLines = async () => {
      const r = await client.get<{ items: JobLogLine[] }>(`/jobs/${encodeURIComponent(id)}/logs?after=${last.current}`);
      if (!alive) return;
      const fresh = r.items.filter((l) => l.seq > last.current);
      if (fresh.length) {
        last.current = fresh[fresh.length - 1]!.seq;
        setLines((ls) => [...ls, ...fresh]);
      }
    };
    const load = () =>
      Promise.all([client.get<Job>(`/jobs/${encodeURIComponent(id)}`).then((j) => alive && setJob(j)), fetchLines()]).catch(
        (err: unknown) => {
          if (!alive) return;
          failed(err);
          setError(err instanceof Error ? err.message : String(err));
        },
      );
    void load();
    const off = subscribe((e) => {
      if (e.type === 'job.updated' && (e.data as Job).id === id) setJob(e.data as Job);
      if (e.type === 'job.log') {
        const d = e.data as { jobId: string; line: JobLogLine };
        if (d.jobId !== id || d.line.seq <= last.current) return;
        if (d.line.seq === last.current + 1) {
          last.current = d.line.seq;
          setLines((ls) => [...ls, d.line]);
        } else void fetchLines().catch(failed);
      }
    });
    return () => {
      alive = false;
      off();
    };
  }, [id]);
  // Keep the newest line in view while following (unless the reader scrolled up).
  const logRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [lines.length]);
  const running = job && !FINISHED.has(job.state);
  return (
    <>
      <p class="crumbs">
        <a href="#/jobs">Jobs</a>
      </p>
      <h1 tabIndex={-1}>Job {job ? job.kind : id.slice(0, 8)}</h1>
      <ErrorLine error={error} />
      {job && (
        <section class="card" aria-labelledby="job-h">
          <h2 id="job-h">State</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <span class={`state ${job.state}`} data-testid="job-state">
                {job.state}
              </span>
            </dd>
            <dt>Id</dt>
            <dd>
              <code>{job.id}</code>
            </dd>
            <dt>Created</dt>
            <dd>
              {when(job.createdAt)} by {job.createdBy}
            </dd>
            <dt>Started</dt>
            <dd>{when(job.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{when(job.finishedAt)}</dd>
            {job.target.nodeId && (
              <>
                <dt>Node</dt>
                <dd>
                  <code>{job.target.nodeId}</code>
                </dd>
              </>
            )}
            {job.target.clusterId && (
              <>
                <dt>Cluster</dt>
                <dd>
                  <code>{job.target.clusterId}</code>
                </dd>
              </>
            )}
            {Object.keys(job.params).length > 0 && (
              <>
                <dt>Parameters</dt>
                <dd>
                  <code class="wrap">{JSON.stringify(job.params)}</code>
                </dd>
              </>
            )}
            {job.error && (
              <>
                <dt>Error</dt>
                <dd class="bad">{job.error}</dd>
              </>
            )}
          </dl>
          {running && canOperate(me.role) && (
            <button
              type="button"
              class="secondary"
              disabled={cancel.busy}
              onClick={() =>
                void cancel.run(async () => (await client.req<Job>('POST', `/jobs/${encodeURIComponent(id)}/cancel`), 'Cancelled.'))
              }
            >
              Cancel this job
            </button>
          )}
          <Outcome said={cancel.said} error={cancel.error} />
        </section>
      )}
      <section aria-labelledby="log-h" role="log">
        <h2 id="log-h">Log {running ? '(following)' : ''}</h2>
        {lines.length === 0 ? (
          <p class="muted">{running ? 'No lines yet; they appear here as the job writes them.' : 'No log lines.'}</p>
        ) : (
          // A scrollable region must be reachable by keyboard: it takes focus.
          <ol class="log" ref={logRef} aria-label="Job log" tabIndex={0}>
            {lines.map((l) => (
              <li key={l.seq} class={l.stream}>
                <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString()}</time>
                <span class="sr-only">{l.stream}</span> {l.line}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
