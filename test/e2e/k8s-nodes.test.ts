/**
 * End to end: the Node objects the control plane registers for nodes with no kubelet carry the
 * `soc` and `model` labels, a NoSchedule taint, and conditions kept from the agent's link (STATUS
 * NotReady with reason NoKubelet, not Unknown). A real kube-apiserver 1.20.2, real kubectl, the
 * control plane with the reconciler and an agent over the behavioural BCM2711 model.
 */
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterReconciler } from '../../src/cluster/reconciler.js';
import { silentLogger } from '../../src/log/index.js';
import { k8sUnavailable, startK8s, type K8sCluster } from '../support/k8s/cluster.js';
import { newAgent, startRig } from '../agent/rig.js';

const skip = k8sUnavailable();
t.setTimeout(250_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Node object, inspected field by field
async function until(k: K8sCluster, name: string, ok: (n: any) => boolean, ms = 20_000): Promise<any> {
  const end = Date.now() + ms;
  for (;;) {
    const n = (await k.api('GET', `/api/v1/nodes/${name}`)).body;
    if (ok(n) || Date.now() > end) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cond = (n: { status?: { conditions?: { type: string }[] } }, type: string) =>
  (n?.status?.conditions ?? []).find((c) => c.type === type) as
    { status: string; reason: string; message: string; lastHeartbeatTime: string } | undefined;

t.test('Node objects with no kubelet', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const top = t;
  const k = await startK8s(t);
  const rig = await startRig(t);
  const agent = await newAgent(t, rig, 'pi-k');
  const store = rig.srv.store;
  const kc = new KubeConfig();
  kc.loadFromFile(k.kubeconfig);
  const rec = new ClusterReconciler({
    kubeConfig: kc,
    store,
    bus: rig.bus,
    agents: rig.hub,
    log: silentLogger(),
    statusPollMs: 20,
    nodeHeartbeatMs: 1000,
  });
  t.teardown(() => rec.stop());
  await rec.start();

  t.test('the SoC from the agent and the stored model become labels', async (t) => {
    // The agent said hello before the reconciler ran: it connects again, as after a control-plane restart.
    await agent.agent.stop();
    agent.chip.close();
    const again = await newAgent(top, rig, 'pi-k', { stateDir: agent.stateDir });
    t.ok(again);
    store.nodes.update(store.nodes.require('pi-k').id, { model: 'Raspberry Pi 4 Model B Rev 1.5' });
    rig.bus.emit('node.updated', store.nodes.require('pi-k'));
    const n = await until(
      k,
      'pi-k',
      (x) => x?.metadata?.labels?.['pi-controller.io/model'] && x?.metadata?.labels?.['pi-controller.io/soc'],
    );
    t.match(n.metadata.labels, {
      'pi-controller.io/managed': 'true',
      'pi-controller.io/gpio': 'true',
      'pi-controller.io/soc': 'bcm2711',
      'pi-controller.io/model': 'Raspberry-Pi-4-Model-B-Rev-1.5',
    });
    t.equal(store.nodes.require('pi-k').labels.soc, 'bcm2711', 'stored as the node label');
    const sel = await k.kubectl(['get', 'nodes', '-l', 'pi-controller.io/soc=bcm2711', '-o', 'name']);
    t.equal(sel.stdout.trim(), 'node/pi-k', 'usable in a node selector');
  });

  t.test('STATUS NotReady (NoKubelet), not Unknown; a taint keeps pods away; the agent condition follows the link', async (t) => {
    const n = await until(k, 'pi-k', (x) => cond(x, 'PiControllerAgent')?.reason === 'AgentConnected');
    t.match(cond(n, 'Ready'), { status: 'False', reason: 'NoKubelet' });
    t.match(cond(n, 'PiControllerAgent'), { status: 'True', reason: 'AgentConnected', message: /connected since/ });
    t.ok(
      n.spec.taints.some(
        (x: { key: string; value: string; effect: string }) =>
          x.key === 'pi-controller.io/no-kubelet' && x.value === 'true' && x.effect === 'NoSchedule',
      ),
      `taint pi-controller.io/no-kubelet=true:NoSchedule among ${JSON.stringify(n.spec.taints)}`,
    );
    t.equal(n.metadata.annotations['pi-controller.io/kubelet'], 'none');
    const get = await k.kubectl(['get', 'node', 'pi-k', '--no-headers']);
    t.match(get.stdout, /^pi-k\s+NotReady\s/, `kubectl get node: ${get.stdout.trim()}`);
    t.notMatch(get.stdout, /Unknown/);
    const d = await k.kubectl(['describe', 'node', 'pi-k']);
    t.match(d.stdout, /PiControllerAgent\s+True/);
    t.match(d.stdout, /NoKubelet/);

    // The heartbeat moves, so the node lifecycle controller would not mark it Unknown.
    const beat = cond(n, 'Ready')!.lastHeartbeatTime;
    const later = await until(k, 'pi-k', (x) => cond(x, 'Ready')?.lastHeartbeatTime !== beat, 10_000);
    t.not(cond(later, 'Ready')?.lastHeartbeatTime, beat, 'heartbeat refreshed');
  });

  t.test('the agent condition goes False when the agent stops', async (t) => {
    t.ok(rig.hub.status(store.nodes.require('pi-k').id).connected, 'connected before');
    rig.hub.revokeNode?.('pi-k');
    const n = await until(k, 'pi-k', (x) => cond(x, 'PiControllerAgent')?.reason === 'AgentOffline');
    t.match(cond(n, 'PiControllerAgent'), { status: 'False', reason: 'AgentOffline' });
    t.match(cond(n, 'Ready'), { status: 'False', reason: 'NoKubelet' });
  });
});
