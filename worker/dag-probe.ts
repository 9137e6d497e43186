/**
 * The DAG bag's probe thread (worker/dag-bag.ts DagFileProbe): evaluates one DAG file's bundled
 * code per message and answers whether it loaded, or its error. The parent terminates this thread
 * when a file overruns the import timeout.
 */
import { parentPort } from 'node:worker_threads';
import { evaluateDagCode, formatError } from './dag-bag.js';

parentPort?.on('message', (m: { id: number; filename: string; code: string }) => {
  try {
    evaluateDagCode(m.filename, m.code);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, ok: false, error: formatError(err) });
    return;
  }
  // Answer after the file's immediate timers ran: one that ends the thread (process.exit from a
  // callback) is then reported by the parent as this file's error before the worker evaluates it.
  setTimeout(() => parentPort!.postMessage({ id: m.id, ok: true }), 10);
});
