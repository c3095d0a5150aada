/**
 * Reading a kubeconfig for `serve --kubeconfig`. Everything that can be checked without the API
 * server is checked here, at start, so a typo is one clear line naming the file and the problem,
 * not a stack trace or a retry loop: the file must be readable YAML, name a current context
 * whose cluster has an http(s) server URL, and the certificate and key files it points to must
 * be readable.
 *
 * The result is a plain `KubeConfig`: the component that runs the reconciler (runner.ts) takes
 * one, so a kubeconfig may come from somewhere other than a file later (a cluster provisioned
 * over SSH, kept in the database) without touching it.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../api/errors.js';

/** A kubeconfig and a short description of where it came from (shown in logs and status). */
export interface KubeConfigSource {
  kubeConfig: KubeConfig;
  /** e.g. `file /etc/rancher/k3s/k3s.yaml` */
  source: string;
}

function fail(file: string, problem: string): never {
  throw new ConfigError([{ path: '/kubernetes/kubeconfig', code: 'kubeconfig', message: `kubeconfig ${file}: ${problem}` }]);
}

/** The first line of an error message (YAML parser messages carry a multi-line excerpt). */
const firstLine = (err: unknown) =>
  String((err as Error).message ?? err)
    .split('\n')[0]!
    .trim();

/**
 * Loads and checks a kubeconfig file (an absolute path).
 * @throws ConfigError naming the file and what is wrong with it.
 */
export async function loadKubeConfigFile(file: string): Promise<KubeConfigSource> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      file,
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied (K3s writes k3s.yaml 0600 for root: copy it or set write-kubeconfig-mode)'
          : firstLine(err),
    );
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    fail(file, `not a valid kubeconfig: ${firstLine(err)}`);
  }
  if (!text.trim() || kc.clusters.length === 0) fail(file, 'not a valid kubeconfig: it defines no cluster');
  const ctxName = kc.getCurrentContext();
  if (!ctxName) fail(file, 'no current-context is set');
  const ctx = kc.getContextObject(ctxName);
  if (!ctx) fail(file, `current-context ${JSON.stringify(ctxName)} is not among its contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) fail(file, `context ${JSON.stringify(ctxName)} names cluster ${JSON.stringify(ctx.cluster)}, which it does not define`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    fail(file, `cluster ${JSON.stringify(cluster.name)} has server ${JSON.stringify(cluster.server)}, which is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    fail(file, `cluster ${JSON.stringify(cluster.name)}: server ${cluster.server} is not http(s)`);
  try {
    // Reads the CA, client certificate and key files it names (or runs its exec plugin).
    await kc.applyToHTTPSOptions({});
  } catch (err) {
    fail(file, `cannot use its credentials: ${firstLine(err)}`);
  }
  return { kubeConfig: kc, source: `file ${file}` };
}

/**
 * A kubeconfig kept as text (a provisioned cluster's, stored sealed in the database).
 * @throws Error when the text is not a kubeconfig with a current cluster.
 */
export function kubeConfigFromText(text: string, source: string): KubeConfigSource {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  if (!kc.getCurrentCluster()) throw new Error(`${source}: the kubeconfig names no current cluster`);
  return { kubeConfig: kc, source };
}
