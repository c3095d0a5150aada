/**
 * A node's Pins page: the 40-pin header drawn as on the board, each GPIO's mode, level, pull and
 * owner (the desired object that claims it), updated live from the event stream; for operators,
 * drive an output, watch an input's edges, start or stop PWM. I2C devices with their readings.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, canOperate, type AgentInfo, type HwObject, type List, type Node } from './api.js';
import { HEADER, HW_PWM_PINS, pinLabel, type HeaderPin } from './header.js';
import { ago, useLive, useShared } from './shared.js';
import { ErrorLine } from './outcome.js';

type Gpio = HwObject<'gpio'>;
type Pwm = HwObject<'pwm'>;
type I2c = HwObject<'i2c'>;

interface NodeData {
  node: Node;
  gpio: Gpio[];
  pwm: Pwm[];
  i2c: I2c[];
  agent: AgentInfo | null;
}

/** What one header GPIO is doing, from the desired objects, their reports and the live events. */
interface PinView {
  mode: string;
  level: number | null;
  pull: string;
  owner: string | null;
  status: string | null;
  failed: boolean;
  altInUse: string | null;
  edges: number;
  gpio?: Gpio | undefined;
  pwm?: Pwm | undefined;
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const hz = (f: number) => (f >= 1e6 ? `${f / 1e6} MHz` : f >= 1e3 ? `${f / 1e3} kHz` : `${f} Hz`);
const statusText = (o: HwObject) => (o.status.phase === 'Applied' ? 'applied' : `${o.status.phase.toLowerCase()} (${o.status.reason})`);

function pinView(pin: number, d: NodeData, levels: Map<number, number>, edges: Map<number, number>): PinView {
  const gpio = d.gpio.find((o) => o.spec.pin === pin);
  const pwm = d.pwm.find((o) => o.spec.pin === pin);
  const i2c = pin === 2 || pin === 3 ? d.i2c.find((o) => o.spec.bus === 1) : undefined;
  const actual = (gpio ?? pwm)?.status.actual ?? {};
  const level = levels.get(pin) ?? num(actual.level);
  const reported = num(actual.edgeCount) ?? 0;
  const base = { level, edges: reported + (edges.get(pin) ?? 0), gpio, pwm };
  if (pwm) {
    const on = pwm.spec.enabled ?? true;
    return {
      ...base,
      mode: on ? `PWM ${hz(pwm.spec.frequencyHz)} ${Math.round(pwm.spec.dutyCycle * 1000) / 10} %` : 'PWM off',
      pull: 'none',
      owner: `pwm/${pwm.name}`,
      status: statusText(pwm),
      failed: pwm.status.phase === 'Failed',
      altInUse: HW_PWM_PINS.has(pin) && actual.implementation !== 'software' ? `PWM${pin === 12 || pin === 18 ? 0 : 1}` : null,
    };
  }
  if (gpio)
    return {
      ...base,
      mode: gpio.spec.mode,
      pull: gpio.spec.pull ?? 'none',
      owner: `gpio/${gpio.name}`,
      status: statusText(gpio),
      failed: gpio.status.phase === 'Failed',
      altInUse: null,
    };
  if (i2c)
    return {
      ...base,
      mode: 'I2C',
      pull: 'up (board)',
      owner: `i2c/${i2c.name}`,
      status: statusText(i2c),
      failed: false,
      altInUse: pin === 2 ? 'SDA1' : 'SCL1',
    };
  return { ...base, mode: 'unclaimed', pull: '—', owner: null, status: null, failed: false, altInUse: null };
}

const UNKNOWN: PinView = { mode: 'unclaimed', level: null, pull: '—', owner: null, status: null, failed: false, altInUse: null, edges: 0 };

const levelText = (l: number | null) => (l === null ? 'level unknown' : l ? 'high' : 'low');

function HeaderCell({ p, view, selected, onSelect }: { p: HeaderPin; view?: PinView; selected: boolean; onSelect: () => void }) {
  const side = p.physical % 2 ? 'odd' : 'even';
  if (p.kind !== 'gpio')
    return (
      <div class={`pin ${side} ${p.kind}`} role="listitem" aria-label={`Physical pin ${p.physical}: ${pinLabel(p)}`}>
        <span class="pad" aria-hidden="true">
          {p.physical}
        </span>
        <span class="name">{pinLabel(p)}</span>
      </div>
    );
  // Before the first load every GPIO shows as unclaimed.
  const v = view ?? UNKNOWN;
  const claimed = v.owner !== null;
  const label = `Physical pin ${p.physical}: GPIO${p.gpio}${v.altInUse ? ` (${v.altInUse})` : ''}, ${v.mode}${claimed ? `, ${levelText(v.level)}, owner ${v.owner}` : ''}`;
  return (
    <div class={`pin ${side} gpio${claimed ? ' claimed' : ''}${v.level ? ' high' : ''}${v.failed ? ' failed' : ''}`} role="listitem">
      <button
        type="button"
        class="pad"
        aria-label={label}
        aria-pressed={selected}
        data-gpio={p.gpio}
        data-level={v.level ?? ''}
        onClick={onSelect}
      >
        {p.physical}
      </button>
      <span class="name">
        GPIO{p.gpio}
        <span class="alt">{v.altInUse ?? (claimed ? '' : (p.alt ?? ''))}</span>
        {claimed && (
          <span class="mode" aria-hidden="true">
            {v.mode}
            {v.level !== null && !v.mode.startsWith('PWM') && ` · ${v.level}`}
          </span>
        )}
      </span>
    </div>
  );
}

function PinControls({ node, pin, view, onDone }: { node: string; pin: number; view: PinView; onDone: (msg: string) => void }) {
  const { client, failed } = useShared();
  const [freq, setFreq] = useState(String(view.pwm?.spec.frequencyHz ?? 1000));
  const [duty, setDuty] = useState(String(view.pwm ? Math.round(view.pwm.spec.dutyCycle * 1000) / 10 : 50));
  const [error, setError] = useState<string | null>(null);
  const base = `/nodes/${encodeURIComponent(node)}`;
  const run = async (what: string, fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      onDone(what);
    } catch (err) {
      failed(err);
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    }
  };
  // A pin is one object's: switching between GPIO and PWM releases the other first.
  const releasePwm = async () => {
    if (view.pwm) await client.req('DELETE', `${base}/pwm/${view.pwm.name}`);
  };
  const releaseGpio = async () => {
    if (view.gpio) await client.req('DELETE', `${base}/gpio/${view.gpio.name}`);
  };
  const gpioName = view.gpio?.name ?? String(pin);
  const pull = view.gpio?.spec.pull ?? 'none';
  const drive = (value: 0 | 1) =>
    run(`GPIO${pin} set ${value ? 'high' : 'low'}`, async () => {
      await releasePwm();
      await client.req('PUT', `${base}/gpio/${gpioName}`, { spec: { pin, mode: 'output', value, pull } });
    });
  const watch = () =>
    run(`GPIO${pin} is an input counting edges`, async () => {
      await releasePwm();
      await client.req('PUT', `${base}/gpio/${gpioName}`, { spec: { pin, mode: 'input', pull, edge: 'both' } });
    });
  const startPwm = (e: Event) => {
    e.preventDefault();
    const f = Number(freq);
    const d = Number(duty) / 100;
    if (!(f > 0) || !(d >= 0 && d <= 1)) {
      setError('Give a frequency above 0 Hz and a duty cycle from 0 to 100 %.');
      return;
    }
    void run(`PWM on GPIO${pin}: ${hz(f)}, ${Number(duty)} %`, async () => {
      await releaseGpio();
      await client.req('PUT', `${base}/pwm/${view.pwm?.name ?? `gpio${pin}`}`, {
        spec: { pin, frequencyHz: f, dutyCycle: d, implementation: 'auto' },
      });
    });
  };
  const release = () =>
    run(`GPIO${pin} released`, async () => {
      await releasePwm();
      await releaseGpio();
    });
  return (
    <div class="controls">
      <div class="row" role="group" aria-label={`Output GPIO${pin}`}>
        <button type="button" onClick={() => drive(1)}>
          Set GPIO{pin} high
        </button>
        <button type="button" onClick={() => drive(0)}>
          Set GPIO{pin} low
        </button>
        <button type="button" onClick={watch}>
          Input, count edges
        </button>
        {view.owner && !view.owner.startsWith('i2c/') && (
          <button type="button" class="secondary" onClick={release}>
            Release
          </button>
        )}
      </div>
      <form class="pwm-form" onSubmit={startPwm} aria-label={`PWM on GPIO${pin}`}>
        <label>
          Frequency (Hz)
          <input type="number" min="0.001" step="any" inputMode="decimal" value={freq} onInput={(e) => setFreq(e.currentTarget.value)} />
        </label>
        <label>
          Duty cycle (%)
          <input
            type="number"
            min="0"
            max="100"
            step="any"
            inputMode="decimal"
            value={duty}
            onInput={(e) => setDuty(e.currentTarget.value)}
          />
        </label>
        <button type="submit">{view.pwm ? 'Update PWM' : 'Start PWM'}</button>
      </form>
      <ErrorLine error={error} />
    </div>
  );
}

export function PinsPage({ node }: { node: string }) {
  const { client, me, subscribe } = useShared();
  const base = `/nodes/${encodeURIComponent(node)}`;
  // hw.changed events name the node by id only: known after the first load.
  const nodeId = useRef<string | null>(null);
  const { data, error } = useLive<NodeData>(
    async () => {
      const [n, gpio, pwm, i2c] = await Promise.all([
        client.get<Node>(base),
        client.get<List<Gpio>>(`${base}/gpio`),
        client.get<List<Pwm>>(`${base}/pwm`),
        client.get<List<I2c>>(`${base}/i2c`),
      ]);
      nodeId.current = n.id;
      const agent = await client.get<AgentInfo>(`/agents/${encodeURIComponent(node)}`).catch(() => null);
      return { node: n, gpio: gpio.items, pwm: pwm.items, i2c: i2c.items, agent };
    },
    (e) => {
      const d = e.data as { node?: string; nodeId?: string; name?: string };
      return (
        ['hw.changed', 'hw.applied', 'agent.connected', 'agent.disconnected', 'node.updated'].includes(e.type) &&
        (d.node === node || (e.type === 'node.updated' && d.name === node) || (d.nodeId !== undefined && d.nodeId === nodeId.current))
      );
    },
  );
  // Levels and edge counts straight from gpio.changed events (no request needed); readings from i2c.reading.
  const [levels, setLevels] = useState(new Map<number, number>());
  const [edges, setEdges] = useState(new Map<number, number>());
  const [readings, setReadings] = useState(new Map<string, { readings: Record<string, unknown>; readAt: string | null }>());
  const [selected, setSelected] = useState<number | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type === 'gpio.changed') {
          const d = e.data as { node: string; pin: number; value: number; edges?: number };
          if (d.node !== node) return;
          setLevels((m) => new Map(m).set(d.pin, d.value));
          if (d.edges) setEdges((m) => new Map(m).set(d.pin, (m.get(d.pin) ?? 0) + d.edges!));
        } else if (e.type === 'i2c.reading') {
          const d = e.data as { node: string; name: string; readings: Record<string, unknown>; readAt: string | null };
          if (d.node === node) setReadings((m) => new Map(m).set(d.name, { readings: d.readings, readAt: d.readAt }));
        }
      }),
    [node],
  );
  // On a phone the chosen pin's panel is below the header: bring it into view.
  useEffect(() => {
    if (selected !== null && matchMedia('(max-width: 760px)').matches)
      document.getElementById('sel-h')?.scrollIntoView({ block: 'nearest' });
  }, [selected]);
  const operate = canOperate(me.role);
  if (error && !data)
    return (
      <>
        <h1 tabIndex={-1}>Pins of {node}</h1>
        <p class="error" role="alert">
          {error}
        </p>
        <p>
          <a href="#/">Back to the dashboard</a>
        </p>
      </>
    );
  const views = new Map<number, PinView>();
  if (data) for (const p of HEADER) if (p.gpio !== undefined) views.set(p.gpio, pinView(p.gpio, data, levels, edges));
  const claimed = HEADER.filter((p) => p.gpio !== undefined && views.get(p.gpio)?.owner);
  const sel = selected !== null ? views.get(selected) : undefined;
  const agent = data?.agent;
  return (
    <>
      <h1 tabIndex={-1}>Pins of {node}</h1>
      <p class="sub">
        {data?.node.model ?? 'model unknown'} ·{' '}
        {agent?.connected ? (
          <span class="ok">agent online{agent.simulated ? ' (simulated)' : ''}</span>
        ) : (
          <span class="muted">agent offline: changes wait for it</span>
        )}
        {agent?.health?.socTempC != null && ` · ${agent.health.socTempC.toFixed(1)} °C`}
        {!operate && ' · read-only (viewer)'}
      </p>
      <p class="sr-only" role="status" aria-live="polite">
        {said ?? ''}
      </p>
      <div class="pins-layout">
        <section aria-labelledby="header-h" class="header-wrap">
          <h2 id="header-h">40-pin header</h2>
          <p class="hint">
            Pin 1 (square) is at the top left, nearest the board's corner. Choose a GPIO to see {operate ? 'and change ' : ''}it.
          </p>
          <div class="header" role="list" aria-label="40-pin header, physical pins 1 to 40">
            {HEADER.map((p) => (
              <HeaderCell
                key={p.physical}
                p={p}
                {...(p.gpio !== undefined ? { view: views.get(p.gpio) } : {})}
                selected={selected === p.gpio}
                onSelect={() => setSelected(selected === p.gpio ? null : p.gpio!)}
              />
            ))}
          </div>
        </section>
        <div class="side">
          {selected !== null && sel && (
            <section aria-labelledby="sel-h" class="selected card">
              <h2 id="sel-h">GPIO{selected}</h2>
              <dl class="facts">
                <dt>Mode</dt>
                <dd data-testid="sel-mode">{sel.mode}</dd>
                <dt>Level</dt>
                <dd data-testid="sel-level">{levelText(sel.level)}</dd>
                <dt>Pull</dt>
                <dd>{sel.pull}</dd>
                <dt>Owner</dt>
                <dd>{sel.owner ?? 'none'}</dd>
                <dt>Status</dt>
                <dd class={sel.failed ? 'bad' : ''}>{sel.status ?? '—'}</dd>
                <dt>Edges</dt>
                <dd>{sel.edges}</dd>
              </dl>
              {operate ? (
                <PinControls key={selected} node={node} pin={selected} view={sel} onDone={setSaid} />
              ) : (
                <p class="muted">Your token is a viewer's: pins can be looked at, not changed.</p>
              )}
            </section>
          )}
          <section aria-labelledby="claimed-h">
            <h2 id="claimed-h">Pins in use</h2>
            {claimed.length === 0 ? (
              <p class="muted">No pin is claimed on this node.</p>
            ) : (
              <div class="scroll">
                <table class="stack">
                  <thead>
                    <tr>
                      <th scope="col">Pin</th>
                      <th scope="col">Mode</th>
                      <th scope="col">Level</th>
                      <th scope="col">Pull</th>
                      <th scope="col">Owner</th>
                      <th scope="col">Edges</th>
                    </tr>
                  </thead>
                  <tbody>
                    {claimed.map((p) => {
                      const v = views.get(p.gpio!)!;
                      return (
                        <tr key={p.physical} data-gpio={p.gpio}>
                          <th scope="row">
                            GPIO{p.gpio} <span class="sub">pin {p.physical}</span>
                          </th>
                          <td data-label="Mode">{v.mode}</td>
                          <td data-label="Level" class="level">
                            {v.level === null ? '—' : v.level ? 'high' : 'low'}
                          </td>
                          <td data-label="Pull">{v.pull}</td>
                          <td data-label="Owner">
                            {v.owner}
                            <span class={`sub${v.failed ? ' bad' : ''}`}>{v.status}</span>
                          </td>
                          <td data-label="Edges">{v.edges}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <section aria-labelledby="i2c-h">
            <h2 id="i2c-h">I2C devices</h2>
            {!data || data.i2c.length === 0 ? (
              <p class="muted">No I2C device is read on this node.</p>
            ) : (
              <ul class="i2c">
                {data.i2c.map((d) => {
                  const live = readings.get(d.name);
                  const actual = d.status.actual ?? {};
                  const r = live?.readings ?? (actual.readings as Record<string, unknown> | undefined) ?? {};
                  const at = live?.readAt ?? (actual.readAt as string | null | undefined);
                  return (
                    <li key={d.id} class="card">
                      <h3>
                        {d.name}{' '}
                        <span class="sub">
                          bus {d.spec.bus}, address 0x{d.spec.address.toString(16).padStart(2, '0')}
                          {d.spec.decoder ? `, ${d.spec.decoder}` : ''} · {statusText(d)}
                        </span>
                      </h3>
                      <dl class="facts">
                        {Object.entries(r).map(([k, v]) => [
                          <dt key={`${k}-t`}>{k}</dt>,
                          <dd key={`${k}-d`}>{typeof v === 'number' ? Math.round(v * 1000) / 1000 : JSON.stringify(v)}</dd>,
                        ])}
                      </dl>
                      <p class="sub">read {ago(at)}</p>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>
        </div>
      </div>
    </>
  );
}
