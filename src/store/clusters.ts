/** Cluster repository. */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Cluster, ClusterCreate, ClusterState, ClusterUpdate } from '../api/clusters.js';
import { ConflictError, NotFoundError } from '../api/errors.js';
import { isUniqueViolation, nowIso } from './sql.js';

interface Row {
  id: string;
  name: string;
  state: string;
  k3s_version: string | null;
  ha: number;
  description: string;
  created_at: string;
  updated_at: string;
}

const toCluster = (r: Row): Cluster => ({
  id: r.id,
  name: r.name,
  state: r.state as ClusterState,
  k3sVersion: r.k3s_version,
  ha: r.ha === 1,
  description: r.description,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class ClusterRepo {
  readonly #byIdOrName;
  readonly #insert;
  readonly #update;
  readonly #delete;
  readonly #list;
  readonly #count;
  readonly #setSealed;
  readonly #sealed;

  constructor(db: Database) {
    this.#byIdOrName = db.prepare<[{ key: string }], Row>(
      'SELECT * FROM clusters WHERE id = @key OR name = @key ORDER BY id = @key DESC LIMIT 1',
    );
    this.#insert = db.prepare(
      'INSERT INTO clusters (id, name, state, k3s_version, ha, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#update = db.prepare('UPDATE clusters SET state = ?, k3s_version = ?, ha = ?, description = ?, updated_at = ? WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM clusters WHERE id = ?');
    this.#list = db.prepare<[number, number], Row>('SELECT * FROM clusters ORDER BY name LIMIT ? OFFSET ?');
    this.#count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM clusters');
    this.#setSealed = {
      joinToken: db.prepare('UPDATE clusters SET join_token = ?, updated_at = ? WHERE id = ?'),
      kubeconfig: db.prepare('UPDATE clusters SET kubeconfig = ?, api_server = ?, updated_at = ? WHERE id = ?'),
    };
    this.#sealed = db.prepare<[string], { join_token: Buffer | null; kubeconfig: Buffer | null; api_server: string | null }>(
      'SELECT join_token, kubeconfig, api_server FROM clusters WHERE id = ?',
    );
  }

  /** Stores the cluster's K3s join token, sealed by the caller (never in clear). */
  setJoinToken(id: string, sealed: Buffer): void {
    this.#setSealed.joinToken.run(sealed, nowIso(), id);
  }

  /** Stores the cluster's admin kubeconfig, sealed by the caller, and the API server address it names. */
  setKubeconfig(id: string, sealed: Buffer, apiServer: string): void {
    this.#setSealed.kubeconfig.run(sealed, apiServer, nowIso(), id);
  }

  /** Forgets the cluster's join token, kubeconfig and API server address (after a reset). */
  clearProvisioned(id: string): void {
    this.#setSealed.joinToken.run(null, nowIso(), id);
    this.#setSealed.kubeconfig.run(null, null, nowIso(), id);
  }

  /** The sealed join token and kubeconfig of a cluster (null where not provisioned yet). */
  sealed(id: string): { joinToken: Buffer | null; kubeconfig: Buffer | null; apiServer: string | null } {
    const r = this.#sealed.get(id);
    return { joinToken: r?.join_token ?? null, kubeconfig: r?.kubeconfig ?? null, apiServer: r?.api_server ?? null };
  }

  create(input: ClusterCreate): Cluster {
    const id = randomUUID();
    const now = nowIso();
    try {
      this.#insert.run(id, input.name, 'pending', input.k3sVersion ?? null, input.ha ? 1 : 0, input.description ?? '', now, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`a cluster named ${JSON.stringify(input.name)} exists`, { name: input.name });
      throw err;
    }
    return this.find(id)!;
  }

  find(idOrName: string): Cluster | undefined {
    const r = this.#byIdOrName.get({ key: idOrName });
    return r && toCluster(r);
  }

  require(idOrName: string): Cluster {
    const c = this.find(idOrName);
    if (!c) throw new NotFoundError('cluster', idOrName);
    return c;
  }

  list(limit = 100, offset = 0): { items: Cluster[]; total: number } {
    return { items: this.#list.all(limit, offset).map(toCluster), total: this.#count.get()!.n };
  }

  update(id: string, patch: ClusterUpdate): Cluster {
    const cur = this.require(id);
    const k3s = patch.k3sVersion === undefined ? cur.k3sVersion : patch.k3sVersion;
    this.#update.run(patch.state ?? cur.state, k3s, (patch.ha ?? cur.ha) ? 1 : 0, patch.description ?? cur.description, nowIso(), cur.id);
    return this.find(cur.id)!;
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes === 1;
  }

  count(): number {
    return this.#count.get()!.n;
  }
}
