import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/paths.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are inspected field by field */
t.test('agent deployment files', async (t) => {
  t.test('the DaemonSet is privileged, mounts the register devices and takes nodeName from the downward API', async (t) => {
    const docs = parseAllDocuments(readFileSync(join(repoRoot(), 'agent/deploy/daemonset.yaml'), 'utf8')).map((d) => d.toJS() as any);
    const ds = docs.find((d) => d.kind === 'DaemonSet');
    t.ok(ds, 'has a DaemonSet');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    t.equal(c.securityContext.privileged, true);
    const mounts = new Map<string, string>(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
    for (const dev of ['/dev/gpiomem', '/dev/gpiomem0', '/dev/mem']) t.ok(mounts.has(dev), `${dev} mounted`);
    const vols = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
    t.equal(vols.get(mounts.get('/dev/mem')!).hostPath.path, '/dev/mem');
    t.match(
      c.env.find((e: any) => e.name === 'NODE_NAME'),
      { valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    );
    t.ok(c.args.includes('--node-name=$(NODE_NAME)'), 'the node name from the downward API, expanded by Kubernetes');
    t.same(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  });

  t.test('the DaemonSet runs the agent image of this version, without a shell or npx', async (t) => {
    const docs = parseAllDocuments(readFileSync(join(repoRoot(), 'agent/deploy/daemonset.yaml'), 'utf8')).map((d) => d.toJS() as any);
    const c = docs.find((d) => d.kind === 'DaemonSet').spec.template.spec.containers[0];
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
    t.equal(c.image, `pi-controller-agent:${pkg.version}`, 'the tag npm run image writes');
    t.equal(c.imagePullPolicy, 'IfNotPresent', 'an imported image is used as it is');
    t.equal(c.command, undefined, "the image's entrypoint (pi-controller agent)");
    t.notMatch(JSON.stringify(c), /npx|sh -c/);
    t.ok(c.args.includes('--join-token-file=/etc/pi-controller/join/$(NODE_NAME)'), "the node's key of the join secret");
  });

  t.test('the systemd unit runs the agent in the foreground and restarts it', async (t) => {
    const unit = readFileSync(join(repoRoot(), 'agent/deploy/pi-controller-agent.service'), 'utf8');
    t.match(unit, /^ExecStart=.*main\.js agent --state-dir \/var\/lib\/pi-controller-agent$/m);
    t.match(unit, /^Restart=always$/m);
    t.match(unit, /^StateDirectoryMode=0700$/m);
    t.match(unit, /^WantedBy=multi-user\.target$/m);
  });
});
