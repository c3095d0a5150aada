/**
 * The catalog's shipped entries (catalog/*.yaml): each one parses and passes every check, every
 * image is a valid pinned reference, every component has Pi-sized requests and limits; bad
 * entries are refused with each problem's path. The Grafana dashboard asks only for metrics the
 * control plane exports, which the control plane's /metrics then shows from agents' health.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AgentInfo } from '../../src/api/agent.js';
import { NotFoundError } from '../../src/api/errors.js';
import type { AgentGateway } from '../../src/core/ports.js';
import { CatalogEntryError, entryImages, loadCatalog, parseEntry, SHIPPED_CATALOG } from '../../src/catalog/entries.js';
import { parseImageRef } from '../../src/catalog/registry.js';
import { repoRoot } from '../support/paths.js';
import { startServer } from '../support/server.js';
import { tempDir } from '../support/tmp.js';

/** Bytes of a Kubernetes quantity (memory) or millicores (cpu). */
const quantity = (q: string): number => {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti)?$/.exec(q)!;
  const mult: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
};

t.test('every shipped entry loads and is checked', async (t) => {
  const entries = loadCatalog();
  t.same(
    entries.map((e) => e.name),
    ['minio', 'postgresql', 'prometheus-grafana'],
  );
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { files: string[] };
  t.ok(pkg.files.includes('catalog'), 'the catalog folder is in the package');
  t.equal(SHIPPED_CATALOG.replace(/\/$/, ''), join(repoRoot(), 'catalog'));
  for (const e of entries) {
    t.match(e.version, /^\d/, `${e.name} has a version`);
    for (const image of entryImages(e)) {
      const ref = parseImageRef(image);
      t.ok(ref.tag && ref.tag !== 'latest', `${image} is pinned to a tag`);
      t.match(ref.registry, /^(registry-1\.docker\.io|quay\.io|ghcr\.io)$/, `${image} names a public registry`);
    }
    for (const c of e.components) {
      const r = c.resources;
      t.ok(quantity(r.requests.memory) <= quantity(r.limits.memory), `${e.name}/${c.name}: memory request within its limit`);
      t.ok(quantity(r.limits.memory) <= 1 << 30, `${e.name}/${c.name}: at most 1 GiB, Pi-sized`);
      t.ok(quantity(r.requests.cpu) <= 0.25, `${e.name}/${c.name}: requests at most a quarter core`);
    }
  }
  const images = entries.flatMap(entryImages);
  t.ok(images.some((i) => i.startsWith('docker.io/prom/prometheus:v')));
  t.ok(images.some((i) => i.startsWith('docker.io/grafana/grafana:')));
  t.ok(images.some((i) => i.startsWith('quay.io/minio/minio:')));
  t.ok(images.some((i) => i.startsWith('docker.io/library/postgres:')));
});

t.test('bad entries are refused with every problem', async (t) => {
  const base = {
    name: 'x',
    version: '1.0-1',
    description: 'd',
    components: [
      {
        name: 'c',
        image: 'docker.io/library/x:1.0',
        ports: [],
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } },
      },
    ],
  };
  const text = (v: unknown) => JSON.stringify(v);
  t.equal(parseEntry(text(base), 'ok.yaml').name, 'x');
  const c0 = base.components[0]!;
  const err = (() => {
    try {
      parseEntry(
        text({
          ...base,
          components: [
            {
              ...c0,
              image: 'docker.io/library/x',
              env: [{ name: 'A', secret: { name: 'nope', key: 'k' } }, { name: 'B' }],
              mounts: [{ configMap: 'absent', mountPath: '/etc/x' }],
            },
          ],
        }),
        'bad.yaml',
      );
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof CatalogEntryError);
  t.match(err, { code: 'CATALOG_ENTRY_INVALID', details: { file: 'bad.yaml' } });
  t.same((err as CatalogEntryError).problems.map((p) => `${p.path} ${p.code}`).sort(), [
    '/components/0/env/0/secret reference',
    '/components/0/env/1 source',
    '/components/0/image unpinned',
    '/components/0/mounts/0/configMap reference',
  ]);
  t.throws(() => parseEntry(text({ ...base, components: [{ ...c0, image: 'Bad Image:1' }] }), 'b.yaml'), {
    code: 'CATALOG_ENTRY_INVALID',
    message: /invalid image reference/,
  });
  t.throws(
    () =>
      parseEntry(
        text({ ...base, components: [{ ...c0, resources: { ...c0.resources, requests: { cpu: 'lots', memory: '1Mi' } } }] }),
        'c.yaml',
      ),
    { code: 'CATALOG_ENTRY_INVALID', problems: [{ path: '/components/0/resources/requests/cpu' }] },
  );
  t.throws(() => parseEntry('a: [', 'd.yaml'), { code: 'CATALOG_ENTRY_INVALID', problems: [{ code: 'yaml' }] });

  // A folder of the operator's own: its entry replaces a shipped one of the same name.
  const dir = tempDir(t);
  writeFileSync(join(dir, 'postgresql.yaml'), text({ ...base, name: 'postgresql', version: '99-1' }));
  const merged = loadCatalog([SHIPPED_CATALOG, dir]);
  t.equal(merged.find((e) => e.name === 'postgresql')!.version, '99-1');
  t.equal(merged.length, 3);
});

t.test("the Pi dashboard asks for metrics the control plane exports from the agents' health", async (t) => {
  const e = loadCatalog().find((x) => x.name === 'prometheus-grafana')!;
  const dash = JSON.parse(e.configMaps!.find((c) => c.name === 'grafana-dashboards')!.data['raspberry-pi.json']!) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = dash.panels.flatMap((p) => p.targets.map((x) => x.expr));
  t.ok(exprs.length >= 5);
  const prom = parseYaml(e.configMaps!.find((c) => c.name === 'prometheus-config')!.data['prometheus.yml']!) as {
    scrape_configs: { job_name: string }[];
  };
  t.ok(prom.scrape_configs.some((s) => s.job_name === 'pi-controller'));

  const health = (temp: number, under: boolean, throttled: boolean): AgentInfo['health'] => ({
    agentVersion: '0.1.0',
    simulated: true,
    socTempC: temp,
    throttled: {
      raw: 0,
      underVoltage: under,
      frequencyCapped: false,
      throttled,
      softTempLimit: false,
      underVoltageOccurred: under,
      frequencyCappedOccurred: false,
      throttledOccurred: throttled,
      softTempLimitOccurred: false,
    },
    memTotalBytes: 1,
    memAvailableBytes: 1,
    load1: 0,
    load5: 0,
    load15: 0,
    uptimeSec: 1,
    agentRssBytes: 1,
    at: '2026-01-01T00:00:00.000Z',
  });
  const info = (node: string, h: AgentInfo['health']): AgentInfo => ({
    node,
    nodeId: node,
    connected: true,
    since: null,
    agentVersion: '0.1.0',
    simulated: true,
    health: h,
    applied: [],
    certificates: [],
  });
  const list = [info('pi-a', health(71.5, true, false)), info('pi-b', health(48, false, true)), info('pi-c', null)];
  const agents: AgentGateway = {
    status: () => ({ connected: true, since: null, health: null }),
    list: () => list,
    info: (node) => {
      throw new NotFoundError('node', node);
    },
    createJoinToken: () => {
      throw new Error('not used here');
    },
    revokeNode: () => [],
    requestSafeState: () => false,
    logs: () => Promise.reject(new Error('not used here')),
  };
  const s = await startServer(t, { agents });
  const text = (await s.req('GET', '/metrics', { token: s.viewer })).text;
  t.match(text, /pi_controller_node_soc_temperature_celsius\{node="pi-a"\} 71\.5/);
  t.match(text, /pi_controller_node_under_voltage\{node="pi-a"\} 1/);
  t.match(text, /pi_controller_node_under_voltage\{node="pi-b"\} 0/);
  t.match(text, /pi_controller_node_throttled\{node="pi-b"\} 1/);
  t.match(text, /pi_controller_node_agent_connected\{node="pi-c"\} 1/);
  t.notMatch(text, /pi_controller_node_soc_temperature_celsius\{node="pi-c"\}/, 'no sample without a report');
  for (const expr of exprs) {
    const name = /^[a-z_]+/.exec(expr)![0];
    t.match(text, new RegExp(`^${name}\\{`, 'm'), `${name} is exported`);
  }
});
