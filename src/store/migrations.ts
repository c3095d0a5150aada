/**
 * Numbered schema migrations. Append only: a released migration is never edited. The
 * database records the versions it has in `schema_migrations`; a database whose highest
 * version is above the last one here was written by a newer pi-controller and is refused.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** SQLite `application_id` that marks a database as ours ("PICT"). */
export const APPLICATION_ID = 0x50494354;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE clusters (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, state TEXT NOT NULL, k3s_version TEXT, ha INTEGER NOT NULL DEFAULT 0,
  description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE nodes (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, address TEXT, mac TEXT, model TEXT, state TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}', cluster_id TEXT REFERENCES clusters(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, last_seen_at TEXT
) STRICT;
CREATE INDEX nodes_state ON nodes(state);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, target TEXT NOT NULL DEFAULT '{}', params TEXT NOT NULL DEFAULT '{}',
  error TEXT, created_by TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT
) STRICT;
CREATE INDEX jobs_state ON jobs(state);
CREATE TABLE job_logs (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, seq INTEGER NOT NULL, at TEXT NOT NULL, stream TEXT NOT NULL, line TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) STRICT;
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash BLOB NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
  last_used_at TEXT, expires_at TEXT, revoked_at TEXT
) STRICT;
CREATE TABLE events (
  seq INTEGER PRIMARY KEY, at TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
) STRICT;
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor_id TEXT, actor_name TEXT NOT NULL, action TEXT NOT NULL, method TEXT NOT NULL,
  path TEXT NOT NULL, status INTEGER NOT NULL, target TEXT, detail TEXT NOT NULL DEFAULT 'null'
) STRICT;
CREATE TABLE discovery (
  id TEXT PRIMARY KEY, address TEXT NOT NULL UNIQUE, mac TEXT, hostname TEXT, source TEXT NOT NULL, model TEXT,
  node_id TEXT REFERENCES nodes(id) ON DELETE SET NULL, first_seen_at TEXT NOT NULL, last_seen_at TEXT NOT NULL
) STRICT;
CREATE TABLE hw_desired (
  id TEXT PRIMARY KEY, node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, kind TEXT NOT NULL, name TEXT NOT NULL,
  generation INTEGER NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  claim TEXT NOT NULL,
  UNIQUE (node_id, kind, name)
) STRICT;
-- one claim per pin (GPIO and PWM share pins) or per I2C bus+address on a node
CREATE UNIQUE INDEX hw_desired_claim ON hw_desired(node_id, claim);
`,
  },
  {
    version: 2,
    name: 'change counters',
    // A counter per table that triggers bump inside the writing transaction, whatever wrote the
    // row (a repository, a cascade from another table, another process): caches of a table's
    // reads compare it to know they are current.
    sql: `
CREATE TABLE change_counters (name TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT;
INSERT INTO change_counters (name, version) VALUES ('nodes', 0);
CREATE TRIGGER nodes_changed_insert AFTER INSERT ON nodes BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'nodes'; END;
CREATE TRIGGER nodes_changed_update AFTER UPDATE ON nodes BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'nodes'; END;
CREATE TRIGGER nodes_changed_delete AFTER DELETE ON nodes BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'nodes'; END;
`,
  },
  {
    version: 3,
    name: 'discovery: one record per machine',
    // Discovery merges sightings by MAC, then SSH host key, then address, so the address is no longer
    // unique (a DHCP address moves between machines). The table is rebuilt with the new columns.
    sql: `
CREATE TABLE discovery_new (
  id TEXT PRIMARY KEY, address TEXT NOT NULL, mac TEXT, hostname TEXT, source TEXT NOT NULL, model TEXT,
  node_id TEXT REFERENCES nodes(id) ON DELETE SET NULL, first_seen_at TEXT NOT NULL, last_seen_at TEXT NOT NULL,
  sources TEXT NOT NULL DEFAULT '[]', state TEXT NOT NULL DEFAULT 'discovered', host_key_fingerprint TEXT, ssh_banner TEXT,
  services TEXT NOT NULL DEFAULT '[]', capabilities TEXT, flags TEXT NOT NULL DEFAULT '[]'
) STRICT;
INSERT INTO discovery_new (id, address, mac, hostname, source, model, node_id, first_seen_at, last_seen_at, sources)
  SELECT id, address, mac, hostname, source, model, node_id, first_seen_at, last_seen_at, json_array(source) FROM discovery;
DROP TABLE discovery;
ALTER TABLE discovery_new RENAME TO discovery;
CREATE INDEX discovery_mac ON discovery(mac);
CREATE INDEX discovery_address ON discovery(address);
`,
  },
  {
    version: 4,
    name: 'provisioning: job steps, step logs, job secrets, pinned SSH host keys',
    // A provisioning job is a list of named steps, each with its own state and attempt count, so a
    // job resumes after a crash where it stopped. Secrets a job needs again when it resumes (an SSH or
    // sudo password) are kept sealed (AES-256-GCM) in jobs.secrets, never in params.
    sql: `
CREATE TABLE job_steps (
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, idx INTEGER NOT NULL, name TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, error_code TEXT, error TEXT,
  log_bytes INTEGER NOT NULL DEFAULT 0, started_at TEXT, finished_at TEXT,
  PRIMARY KEY (job_id, idx)
) STRICT;
ALTER TABLE job_logs ADD COLUMN step TEXT;
ALTER TABLE jobs ADD COLUMN secrets BLOB;
CREATE TABLE ssh_host_keys (
  host TEXT NOT NULL, port INTEGER NOT NULL, fingerprint TEXT NOT NULL, pinned_at TEXT NOT NULL, PRIMARY KEY (host, port)
) STRICT;
`,
  },
  {
    version: 5,
    name: 'node health history: bounded samples of each Pi agent health reports',
    // One row per sample (src/store/health.ts decides which reports become samples and prunes to
    // the latest N per node); the flags are the firmware's at that time, NULL where not reported.
    sql: `
CREATE TABLE node_health (
  node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, at TEXT NOT NULL,
  soc_temp_c REAL, under_voltage INTEGER, throttled INTEGER, capped INTEGER,
  PRIMARY KEY (node_id, at)
) STRICT;
`,
  },
  {
    version: 6,
    name: 'provisioned clusters: sealed join token and kubeconfig, API server address',
    // A cluster made by `cluster create` keeps its K3s join token and its admin kubeconfig sealed
    // (AES-256-GCM with the CA key's encryption, as job secrets are); neither is ever stored in clear.
    sql: `
ALTER TABLE clusters ADD COLUMN join_token BLOB;
ALTER TABLE clusters ADD COLUMN kubeconfig BLOB;
ALTER TABLE clusters ADD COLUMN api_server TEXT;
`,
  },
];

/** The schema version this build writes. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
