/**
 * The Kubernetes test rig itself (test/support/k8s): a real kube-apiserver 1.20.2 with etcd on
 * 127.0.0.1, driven by the machine's kubectl and by raw requests.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { k8sUnavailable, startK8s } from '../support/k8s/cluster.js';
import { repoRoot } from '../support/paths.js';
import { scaled } from '../support/wait.js';

const skip = k8sUnavailable();
t.setTimeout(scaled(250_000));

t.test('Kubernetes rig', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const k = await startK8s(t);

  t.test('serves v1.20.2 and answers kubectl with the admin token', async (t) => {
    const v = await k.api('GET', '/version');
    t.equal(v.status, 200);
    t.equal(v.body.gitVersion, 'v1.20.2');
    const ns = await k.kubectl(['get', 'namespaces', '-o', 'name']);
    t.equal(ns.status, 0, ns.stderr);
    t.match(ns.stdout, /namespace\/default/);
    const anon = await fetch(`${k.server}/api/v1/namespaces`).catch(() => null);
    t.equal(anon, null, 'plain fetch without the CA does not trust the server');
  });

  t.test('applies a CRD; creates, gets and watches an object; refuses one the schema forbids', async (t) => {
    const apply = await k.kubectl(['apply', '-f', join(repoRoot(), 'crds', 'gpiopins.yaml')]);
    t.equal(apply.status, 0, apply.stderr);
    const wait = await k.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/gpiopins.gpio.pi-controller.io']);
    t.equal(wait.status, 0, wait.stderr);

    // A watch from the current resourceVersion sees the create.
    const list = await k.api('GET', '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins');
    t.equal(list.status, 200);
    const rv = list.body.metadata.resourceVersion as string;
    const ac = new AbortController();
    const seen: string[] = [];
    const watch = (async () => {
      const { request } = await import('node:https');
      await new Promise<void>((resolve) => {
        const req = request(
          `${k.server}/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins?watch=1&resourceVersion=${rv}`,
          {
            ca: k.caPem,
            headers: { authorization: `Bearer ${k.token}` },
            signal: ac.signal,
          },
          (res) => {
            let buf = '';
            res.on('data', (c: Buffer) => {
              buf += c.toString('utf8');
              let i;
              while ((i = buf.indexOf('\n')) >= 0) {
                const ev = JSON.parse(buf.slice(0, i)) as { type: string; object: { metadata: { name: string } } };
                buf = buf.slice(i + 1);
                seen.push(`${ev.type} ${ev.object.metadata.name}`);
                if (seen.length >= 1) resolve();
              }
            });
          },
        );
        req.on('error', () => resolve());
        req.end();
      });
    })();

    const yaml =
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: led}\nspec: {nodeName: pi-one, pin: 17, mode: output, value: 1}\n';
    const c = await k.kubectl(['apply', '-f', '-'], yaml);
    t.equal(c.status, 0, c.stderr);
    await Promise.race([watch, new Promise((r) => setTimeout(r, 15_000))]);
    ac.abort();
    t.same(seen, ['ADDED led'], 'the watch saw the create');

    const got = await k.kubectl(['get', 'gpin', 'led', '-o', 'jsonpath={.spec.pin} {.spec.pull} {.metadata.generation}']);
    t.equal(got.stdout, '17 none 1', 'short name works; schema default applied');
    const table = await k.kubectl(['get', 'gpiopins']);
    t.match(table.stdout, /NAME\s+NODE\s+PIN\s+MODE\s+VALUE\s+PHASE\s+REASON\s+AGE/);

    const bad = await k.kubectl(['apply', '-f', '-'], yaml.replace('pin: 17', 'pin: 99').replace('name: led', 'name: bad'));
    t.not(bad.status, 0);
    t.match(bad.stderr, /spec\.pin.*less than or equal to 57/);
    // The server publishes a new CRD's OpenAPI a few seconds after it is established.
    let explain = await k.kubectl(['explain', 'gpiopin.spec.pin']);
    for (let i = 0; i < 60 && explain.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      explain = await k.kubectl(['explain', 'gpiopin.spec.pin']);
    }
    t.equal(explain.status, 0, explain.stderr);
    t.match(explain.stdout, /BCM GPIO number/);
  });

  t.test('stop() ends the processes and removes the folder', async (t) => {
    await k.stop();
    t.notOk(existsSync(k.dir));
    const r = await k.api('GET', '/readyz').catch((e: Error) => e);
    t.type(r, Error);
  });
});
