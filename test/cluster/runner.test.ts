/**
 * The reconciler's lifecycle (src/cluster/runner.ts) against a real kube-apiserver reached
 * through a TCP forwarder the test opens and closes (test/support/k8s/gate.ts), with the real
 * control plane app (store, bus) and no agents: retries with backoff while the server cannot be
 * reached, runs once it can, notices when it goes away and comes back (and still reconciles
 * after), and stops promptly whether it is running, waiting to retry, or in the middle of an attempt.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterRunner } from '../../src/cluster/runner.js';
import { silentLogger } from '../../src/log/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { tcpGate } from '../support/k8s/gate.js';
import { startServer, type TestServer } from '../support/server.js';
import { until } from '../agent/rig.js';
import { scaled } from '../support/wait.js';

const skip = k8sUnavailable();
t.setTimeout(scaled(240_000));

type T = { teardown(fn: () => void | Promise<void>): void };

/** A runner whose kubeconfig is the rig's, with the server at `port` (a gate in front of it, or another listener). */
function runnerFor(t: T, k: K8sCluster, port: number, srv: TestServer, backoff = { baseMs: 100, maxMs: 400 }): ClusterRunner {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(readFileSync(k.kubeconfig, 'utf8').replace(k.server, `https://127.0.0.1:${port}`));
  const runner = new ClusterRunner({
    kube: { kubeConfig, source: 'test' },
    store: srv.store,
    bus: srv.app.bus,
    agents: undefined,
    log: silentLogger(),
    backoff,
    probeMs: 100,
    reconciler: { statusPollMs: 20, registerNodes: false },
  });
  t.teardown(() => runner.stop());
  return runner;
}

t.test('cluster runner', { skip: skip ?? false }, async (t) => {
  const k = await startK8s(t);
  const target = Number(new URL(k.server).port);

  t.test('retries with growing delays while the API server is down, runs once it answers', async (t) => {
    const gate = await tcpGate(t, target);
    const srv = await startServer(t);
    const runner = runnerFor(t, k, gate.port, srv);
    runner.start();
    // Attempts counts the one in flight too: wait for the fourth to have failed and the fifth to be
    // scheduled (between the two, nextAttemptAt is null while an attempt is running).
    await until(() => runner.status().attempts >= 4 && runner.status().nextAttemptAt !== null, 20_000);
    const s = runner.status();
    t.match(s, {
      enabled: true,
      state: 'retrying',
      connected: false,
      synced: false,
      queueDepth: 0,
      lastError: /ECONNREFUSED/,
      source: 'test',
    });
    t.ok(Date.parse(s.nextAttemptAt!) > 0, 'the next attempt is scheduled');
    t.equal(runner.reconciler, undefined, 'no reconciler is left running from a failed attempt');
    await gate.open();
    await until(() => runner.status().state === 'running', 20_000);
    t.match(runner.status(), { connected: true, synced: true, lastError: null, nextAttemptAt: null });
    t.ok(runner.reconciler, 'the reconciler runs');
  });

  t.test('notices the API server going away and coming back, and reconciles after', async (t) => {
    const gate = await tcpGate(t, target);
    await gate.open();
    const srv = await startServer(t);
    const runner = runnerFor(t, k, gate.port, srv);
    runner.start();
    await until(() => runner.status().synced, 20_000);
    await gate.close();
    await until(() => !runner.status().connected, 10_000);
    t.match(
      runner.status(),
      { state: 'running', lastError: /ECONNREFUSED|socket hang up|ECONNRESET/ },
      'still running: its watches keep retrying',
    );
    // Made while the control plane could not see the server: found by the relist.
    const r = await k.kubectl(
      ['apply', '-f', '-'],
      'apiVersion: gpio.pi-controller.io/v1alpha1\nkind: GPIOPin\nmetadata: {name: runner-far}\nspec: {nodeName: pi-nowhere, pin: 5, mode: input}\n',
    );
    t.equal(r.status, 0, r.stderr);
    await gate.open();
    await until(() => runner.status().connected, 10_000);
    let reason: string | undefined;
    for (let i = 0; i < 150 && reason !== 'NodeNotFound'; i++) {
      const o = await k.api('GET', '/apis/gpio.pi-controller.io/v1alpha1/namespaces/default/gpiopins/runner-far');
      reason = (o.body as { status?: { conditions?: { reason: string }[] } }).status?.conditions?.[0]?.reason;
      if (reason !== 'NodeNotFound') await new Promise((r) => setTimeout(r, 200));
    }
    t.equal(reason, 'NodeNotFound', 'the object made during the outage was reconciled');
  });

  t.test('stop: while waiting to retry, and during an attempt the server does not answer', async (t) => {
    const gate = await tcpGate(t, target);
    const srv = await startServer(t);
    const waiting = runnerFor(t, k, gate.port, srv, { baseMs: 60_000, maxMs: 60_000 });
    waiting.start();
    await until(() => waiting.status().state === 'retrying', 10_000);
    await waiting.stop();
    t.match(waiting.status(), { state: 'stopped', nextAttemptAt: null }, 'the scheduled attempt is cancelled');

    // A server that accepts connections but never answers: the attempt waits until stop.
    const held = new Set<Socket>();
    const silent = createServer((sock) => {
      held.add(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const c of held) c.destroy();
      return new Promise((r) => silent.close(r));
    });
    const hung = runnerFor(t, k, (silent.address() as AddressInfo).port, srv);
    hung.start();
    await until(() => held.size > 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    t.match(hung.status(), { state: 'starting', attempts: 1 }, 'the first attempt is still waiting for an answer');
    const stopped = hung.stop().then(() => 'stopped');
    t.equal(
      await Promise.race([stopped, new Promise((r) => setTimeout(() => r('still waiting'), 20_000))]),
      'stopped',
      'stop does not wait out the request',
    );
    t.equal(hung.status().state, 'stopped');
  });
});
