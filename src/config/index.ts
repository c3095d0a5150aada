/**
 * Configuration: defaults, then a YAML or JSON file, then environment variables, then
 * command-line flags. Validated once, at start, against one schema; every problem is
 * reported with its path and where the offending value came from. Nothing here runs at
 * import time: the caller passes the environment and flags in.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { Obj, StringEnum } from '../api/common.js';
import { convertString } from '../api/convert.js';
import { ConfigError, type Problem } from '../api/errors.js';
import { Validator } from '../api/validate.js';

const Level = StringEnum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export const ConfigSchema = Obj({
  dataDir: Type.String({ minLength: 1, default: './data', description: 'data directory (database, tokens, backups, certificate)' }),
  http: Obj({
    host: Type.String({ minLength: 1, default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    tls: StringEnum(['auto', 'on', 'off'], { default: 'auto', description: 'auto: HTTPS when bound beyond loopback' }),
  }),
  log: Obj({
    level: Level,
    format: StringEnum(['auto', 'json', 'pretty'], { default: 'auto' }),
    components: Type.Record(Type.String(), Level),
  }),
  backup: Obj({
    intervalMinutes: Type.Integer({ minimum: 0, maximum: 525600, description: '0 disables scheduled backups' }),
    keep: Type.Integer({ minimum: 1, maximum: 1000 }),
  }),
  events: Obj({
    retain: Type.Integer({ minimum: 100, maximum: 10_000_000 }),
    streamBufferBytes: Type.Integer({ minimum: 4096, maximum: 1 << 30 }),
  }),
  agents: Obj({
    enabled: Type.Boolean({ default: true, description: 'run the agent endpoint (mutual TLS)' }),
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'agent endpoint address; bind beyond loopback for real Pis' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8443 }),
    certDays: Type.Integer({ minimum: 1, maximum: 825, default: 30, description: 'agent certificate lifetime; renewed with a third left' }),
  }),
  kubernetes: Obj({
    kubeconfig: Type.String({
      default: '',
      description:
        'kubeconfig of the cluster whose GPIOPin/PWMController/I2CDevice objects serve reconciles (K3s: /etc/rancher/k3s/k3s.yaml); empty: reconciliation off',
    }),
    healthTaint: Type.Boolean({
      default: true,
      description:
        'taint a Node NoSchedule while its Pi is under-voltage or too hot (pi-controller.io/under-voltage, pi-controller.io/soc-hot)',
    }),
    socHotC: Type.Number({
      minimum: 40,
      maximum: 110,
      default: 80,
      description: 'SoC temperature (°C) from which the PiSocHot condition is True',
    }),
  }),
  catalog: Obj({
    dir: Type.String({
      default: '',
      description:
        "a folder of the operator's own catalog entries (*.yaml), beside the shipped ones; an entry of the same name replaces the shipped one",
    }),
    registryTimeoutMs: Type.Integer({
      minimum: 100,
      maximum: 120_000,
      default: 10_000,
      description: 'timeout of each registry request when an install resolves its images',
    }),
  }),
  discovery: Obj({
    interface: Type.String({ default: '', description: 'IPv4 address of the LAN interface for mDNS and the scan; empty: chosen by route' }),
    cidr: Type.String({
      default: '',
      description: 'range a discovery run scans for SSH when the request names none (at most a /16); empty: no scan',
    }),
    leases: Type.String({
      default: '',
      description: 'DHCP lease files, comma-separated format:path (formats dnsmasq, pihole, isc), e.g. pihole:/etc/pihole/dhcp.leases',
    }),
    timeoutMs: Type.Integer({
      minimum: 100,
      maximum: 30000,
      default: 1500,
      description: 'mDNS listening time and per-connect scan timeout',
    }),
    sshUser: Type.String({ minLength: 1, default: 'pi', description: 'user the capability probe logs in as' }),
    sshKey: Type.String({ default: '', description: 'private key file for the capability probe; empty: probing is off' }),
  }),
});
export type Config = Static<typeof ConfigSchema>;

export const DEFAULTS: Config = {
  dataDir: './data',
  http: { host: '127.0.0.1', port: 8080, tls: 'auto' },
  log: { level: 'info', format: 'auto', components: {} },
  backup: { intervalMinutes: 1440, keep: 7 },
  events: { retain: 10_000, streamBufferBytes: 1 << 20 },
  agents: { enabled: true, host: '127.0.0.1', port: 8443, certDays: 30 },
  kubernetes: { kubeconfig: '', healthTaint: true, socHotC: 80 },
  catalog: { dir: '', registryTimeoutMs: 10_000 },
  discovery: { interface: '', cidr: '', leases: '', timeoutMs: 1500, sshUser: 'pi', sshKey: '' },
};

/** Environment variables and the config path each one sets. */
export const ENV_VARS: Record<string, string> = {
  PI_CONTROLLER_DATA_DIR: '/dataDir',
  PI_CONTROLLER_HOST: '/http/host',
  PI_CONTROLLER_PORT: '/http/port',
  PI_CONTROLLER_TLS: '/http/tls',
  PI_CONTROLLER_LOG_LEVEL: '/log/level',
  PI_CONTROLLER_LOG_FORMAT: '/log/format',
  PI_CONTROLLER_BACKUP_INTERVAL_MINUTES: '/backup/intervalMinutes',
  PI_CONTROLLER_BACKUP_KEEP: '/backup/keep',
  PI_CONTROLLER_EVENTS_RETAIN: '/events/retain',
  PI_CONTROLLER_AGENT_HOST: '/agents/host',
  PI_CONTROLLER_AGENT_PORT: '/agents/port',
  PI_CONTROLLER_KUBECONFIG: '/kubernetes/kubeconfig',
  PI_CONTROLLER_HEALTH_TAINT: '/kubernetes/healthTaint',
  PI_CONTROLLER_SOC_HOT_C: '/kubernetes/socHotC',
  PI_CONTROLLER_CATALOG_DIR: '/catalog/dir',
  PI_CONTROLLER_DISCOVERY_INTERFACE: '/discovery/interface',
  PI_CONTROLLER_DISCOVERY_CIDR: '/discovery/cidr',
  PI_CONTROLLER_DISCOVERY_LEASES: '/discovery/leases',
  PI_CONTROLLER_DISCOVERY_SSH_USER: '/discovery/sshUser',
  PI_CONTROLLER_DISCOVERY_SSH_KEY: '/discovery/sshKey',
};

export interface LoadOptions {
  /** Config file (YAML or JSON); also taken from PI_CONTROLLER_CONFIG. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Flag values keyed by config path (e.g. `{ '/http/port': '9000' }`), as given on the command line. */
  flags?: Record<string, string | number | undefined>;
  /** Base for relative paths (default: process.cwd()). */
  cwd?: string;
}

type Json = Record<string, unknown>;

function setPath(obj: Json, path: string, value: unknown): void {
  const parts = path.split('/').slice(1);
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null || Array.isArray(o[p])) o[p] = {};
    o = o[p] as Json;
  }
  o[parts[parts.length - 1]!] = value;
}

function schemaAt(path: string): TSchema | undefined {
  let s: TSchema | undefined = ConfigSchema;
  for (const p of path.split('/').slice(1)) s = (s as { properties?: Record<string, TSchema> } | undefined)?.properties?.[p];
  return s;
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? deepMerge(b as Json, v as Json)
        : v;
  }
  return out;
}

/** Records which source set each leaf path, so problems can name it. */
function collectSources(obj: unknown, source: string, prefix: string, into: Map<string, string>): void {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) collectSources(v, source, `${prefix}/${k}`, into);
  } else into.set(prefix, source);
}

/**
 * Loads and validates the configuration.
 * @throws ConfigError listing every problem (`/http/port: Expected integer (from env PI_CONTROLLER_PORT)`).
 */
export function loadConfig(opts: LoadOptions = {}): Config & { sources: Record<string, string> } {
  const env = opts.env ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const sources = new Map<string, string>();
  let merged: Json = structuredClone(DEFAULTS) as unknown as Json;
  const problems: Problem[] = [];

  const file = opts.file ?? env.PI_CONTROLLER_CONFIG;
  if (file) {
    const path = resolve(cwd, file);
    let parsed: unknown;
    try {
      const text = readFileSync(path, 'utf8');
      parsed = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new ConfigError([{ path: '', code: 'file', message: `cannot read config file ${path}: ${(err as Error).message}` }]);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new ConfigError([{ path: '', code: 'type', message: `config file ${path} must hold an object` }]);
      collectSources(parsed, `file ${path}`, '', sources);
      merged = deepMerge(merged, parsed as Json);
    }
  }
  // Environment and flags are strings: convert each to the type its schema asks for.
  const layer = (entries: [string, unknown, string][]) => {
    for (const [path, raw, source] of entries) {
      if (raw === undefined || raw === '') continue;
      const schema = schemaAt(path);
      setPath(merged, path, schema && typeof raw === 'string' ? convertString(schema, raw) : raw);
      sources.set(path, source);
    }
  };
  layer(Object.entries(ENV_VARS).map(([name, path]) => [path, env[name], `env ${name}`]));
  layer(Object.entries(opts.flags ?? {}).map(([path, v]) => [path, v, `flag --${path.split('/').pop()}`]));

  for (const p of new Validator().problems(ConfigSchema, merged)) {
    const src = [...sources.entries()].find(([k]) => p.path === k || p.path.startsWith(`${k}/`))?.[1];
    problems.push({ ...p, message: `${p.message}${src ? ` (from ${src})` : ''}` });
  }
  if (problems.length) throw new ConfigError(problems);
  const config = merged as unknown as Config;
  // `--port 0` (any free port) takes any free port for the agent endpoint too, unless its port was
  // set: a fixed 8443 beside a free HTTP port would make a second such server lose its agent endpoint.
  if (config.http.port === 0 && !sources.has('/agents/port')) config.agents.port = 0;
  const kubeconfig = config.kubernetes.kubeconfig ? resolve(cwd, config.kubernetes.kubeconfig) : '';
  return {
    ...config,
    catalog: { ...config.catalog, dir: config.catalog.dir ? resolve(cwd, config.catalog.dir) : '' },
    dataDir: resolve(cwd, config.dataDir),
    kubernetes: { ...config.kubernetes, kubeconfig },
    sources: Object.fromEntries(sources),
  };
}

/** Whether an address is loopback-only (HTTP without TLS is allowed there). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
