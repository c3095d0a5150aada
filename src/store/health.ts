/**
 * Pi health history: a bounded series of samples per node, from its agent's health reports. A
 * report becomes a sample when the node's last sample is `sampleMs` old or its firmware flags
 * (under-voltage, throttled, frequency capped) changed, so a flag that came and went between two
 * periods is kept; each node keeps its latest `keep` samples (older ones are deleted as new ones
 * come). At the defaults, 30 s and 240 samples: two hours per node, a few KiB each.
 */
import type { Database } from 'better-sqlite3';
import type { Health } from '../api/agent.js';
import type { HealthSample, NodeHealthHistory } from '../api/health.js';

export interface HealthHistoryOptions {
  /** Least time between two samples of a node whose flags did not change (default 30 s). */
  sampleMs?: number;
  /** Samples kept per node (default 240). */
  keep?: number;
}

interface Row {
  node_id: string;
  name: string;
  at: string;
  soc_temp_c: number | null;
  under_voltage: number | null;
  throttled: number | null;
  capped: number | null;
}

const bool = (v: number | null) => (v === null ? null : v === 1);
const int = (v: boolean | undefined) => (v === undefined ? null : v ? 1 : 0);

function toSample(r: Row): HealthSample {
  return {
    at: r.at,
    socTempC: r.soc_temp_c,
    underVoltage: bool(r.under_voltage),
    throttled: bool(r.throttled),
    frequencyCapped: bool(r.capped),
  };
}

export class HealthRepo {
  readonly #insert;
  readonly #prune;
  readonly #ofNode;
  readonly #all;
  readonly #sampleMs: number;
  readonly #keep: number;
  /** node id -> when its last sample was written and its flags then (per instance). */
  readonly #last = new Map<string, { at: number; flags: string }>();

  constructor(db: Database, opts: HealthHistoryOptions = {}) {
    this.#sampleMs = opts.sampleMs ?? 30_000;
    this.#keep = opts.keep ?? 240;
    this.#insert = db.prepare(
      'INSERT OR REPLACE INTO node_health (node_id, at, soc_temp_c, under_voltage, throttled, capped) VALUES (?, ?, ?, ?, ?, ?)',
    );
    // Everything older than the node's `keep`-th newest sample.
    this.#prune = db.prepare(
      'DELETE FROM node_health WHERE node_id = @id AND at < (SELECT at FROM node_health WHERE node_id = @id ORDER BY at DESC LIMIT 1 OFFSET @keep - 1)',
    );
    this.#ofNode = db.prepare<[string, number], Row>(
      'SELECT * FROM (SELECT h.*, n.name FROM node_health h JOIN nodes n ON n.id = h.node_id WHERE h.node_id = ? ORDER BY h.at DESC LIMIT ?) ORDER BY at',
    );
    this.#all = db.prepare<[number], Row>(
      `SELECT node_id, name, at, soc_temp_c, under_voltage, throttled, capped FROM (
         SELECT h.*, n.name, row_number() OVER (PARTITION BY h.node_id ORDER BY h.at DESC) AS rn
         FROM node_health h JOIN nodes n ON n.id = h.node_id)
       WHERE rn <= ? ORDER BY name, at`,
    );
  }

  /** Takes a health report of a node's agent; returns whether it became a sample. */
  record(nodeId: string, h: Health, now = Date.now()): boolean {
    const t = h.throttled;
    const flags = t ? `${+t.underVoltage}${+t.throttled}${+t.frequencyCapped}` : '-';
    const last = this.#last.get(nodeId);
    if (last && now - last.at < this.#sampleMs && last.flags === flags) return false;
    this.#insert.run(nodeId, new Date(now).toISOString(), h.socTempC, int(t?.underVoltage), int(t?.throttled), int(t?.frequencyCapped));
    this.#prune.run({ id: nodeId, keep: this.#keep });
    this.#last.set(nodeId, { at: now, flags });
    return true;
  }

  /** The latest `samples` samples of one node, oldest first. */
  ofNode(nodeId: string, samples = 60): HealthSample[] {
    return this.#ofNode.all(nodeId, samples).map(toSample);
  }

  /** The latest `samples` samples of every node that has any, by node name. */
  all(samples = 60): NodeHealthHistory[] {
    const out: NodeHealthHistory[] = [];
    for (const r of this.#all.all(samples)) {
      let cur = out[out.length - 1];
      if (!cur || cur.nodeId !== r.node_id) out.push((cur = { node: r.name, nodeId: r.node_id, samples: [] }));
      cur.samples.push(toSample(r));
    }
    return out;
  }
}
