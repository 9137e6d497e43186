/**
 * Loads @kubernetes/client-node. The package is ESM-only; this project compiles to CommonJS, and
 * Node >= 20.19 can `require()` an ES module that has no top-level await (client-node has none), so
 * a plain require works and keeps the executor synchronous to construct. The types come from an
 * `import type` with resolution-mode so TypeScript does not flag the CJS->ESM import.
 */
import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

export type ClientNode = typeof K8s;

let cached: ClientNode | undefined;

export function loadClientNode(): ClientNode {
  cached ??= require('@kubernetes/client-node') as ClientNode;
  return cached;
}

export interface KubernetesClients {
  kc: K8s.KubeConfig;
  batch: K8s.BatchV1Api;
  core: K8s.CoreV1Api;
  logs: K8s.Log;
}

/**
 * Clients from a kubeconfig file, else the default chain (KUBECONFIG, ~/.kube/config, in-cluster
 * service account), optionally switched to `context`.
 */
export function makeKubernetesClients(opts: { kubeconfigPath?: string; context?: string }): KubernetesClients {
  const k8s = loadClientNode();
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new Error(
        `kubernetes executor: context "${opts.context}" not found in kubeconfig ${opts.kubeconfigPath ?? '(default chain)'}`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  return { kc, batch: kc.makeApiClient(k8s.BatchV1Api), core: kc.makeApiClient(k8s.CoreV1Api), logs: new k8s.Log(kc) };
}

/** The HTTP status of a client-node API error, or undefined for other errors. */
export function apiStatus(err: unknown): number | undefined {
  const k8s = loadClientNode();
  return err instanceof k8s.ApiException ? (err as K8s.ApiException<unknown>).code : undefined;
}

/** A short description of an API error: the Status message when the body carries one. */
export function apiErrorMessage(err: unknown): string {
  const k8s = loadClientNode();
  if (err instanceof k8s.ApiException) {
    const e = err as K8s.ApiException<unknown>;
    const body: unknown = e.body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') message = parsed.message;
      } catch {
        message = body.slice(0, 500);
      }
    } else if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
      message = (body as { message: string }).message;
    }
    return `HTTP ${e.code}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
