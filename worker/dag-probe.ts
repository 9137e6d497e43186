/**
 * The DAG bag's probe thread (worker/dag-bag.ts DagFileProbe): transpiles and evaluates one DAG
 * file per message and answers with the code (to evaluate again in the worker) or the error. The
 * parent terminates this thread when a file overruns the import timeout.
 */
import { parentPort } from 'node:worker_threads';
import { formatError, transpileDagFile, evaluateDagCode } from './dag-bag.js';

parentPort?.on('message', (file: string) => {
  void (async () => {
    try {
      const code = await transpileDagFile(file);
      evaluateDagCode(file, code);
      parentPort!.postMessage({ file, ok: true, code });
    } catch (err) {
      parentPort!.postMessage({ file, ok: false, error: formatError(err) });
    }
  })();
});
