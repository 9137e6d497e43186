/**
 * Task, sensor-check, branch and callback functions, from the code of the DAG version a run was
 * created with. The current DAG bag answers when the run's version is the file's current code;
 * otherwise the version's stored bundle (table dag_code) is evaluated once, in a module of its own,
 * and kept. When the code cannot be had (a version stored before code was kept, a bundle that no
 * longer loads, a function it does not define) the lookup throws TaskFunctionNotFoundError, which
 * fails the try at once, without retries, naming the version it needs.
 */
import path from 'node:path';
import type { Kysely } from 'kysely';
import {
  TaskFunctionNotFoundError,
  type FunctionLookup,
  type FunctionRef,
  type FunctionResolver,
} from '../activities/executors/in-process.js';
import type { Database } from '../db/database.js';
import {
  findDagVersionWithCode,
  getDagCode,
  getDagVersionWithCode,
  type DagVersionWithCode,
} from '../db/dag.repository.js';
import { compileDag } from '../sdk/compile.js';
import { isDagDefinition } from '../sdk/dag.js';
import type { TaskFunction } from '../sdk/task.js';
import { DagFileProbe, formatError, loadDagCode, type DagBag } from './dag-bag.js';

type Functions = ReadonlyMap<string, TaskFunction<unknown, unknown>>;

export interface VersionedFunctionsOptions {
  db: Kysely<Database>;
  bag: DagBag;
  /** Limit for the top-level code of a stored bundle (UPDRAFT_DAGBAG_IMPORT_TIMEOUT). */
  importTimeoutMs: number;
  /** Stored versions kept evaluated at once. @default 32 */
  cacheSize?: number;
}

export function createVersionedFunctionResolver(opts: VersionedFunctionsOptions): FunctionResolver {
  const cache = new Map<number, Promise<Functions>>();
  const cacheSize = opts.cacheSize ?? 32;

  const stored = (version: DagVersionWithCode): Promise<Functions> => {
    let entry = cache.get(version.id);
    if (!entry) {
      entry = evaluateStoredVersion(opts, version);
      // A failure is not kept: the next try evaluates again (and fails again, or not).
      entry.catch(() => cache.delete(version.id));
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
      cache.set(version.id, entry);
    }
    return entry;
  };

  return {
    async resolve(ref: FunctionRef): Promise<FunctionLookup> {
      const current = opts.bag.get(ref.dagId);
      if (current && ref.dagVersionId !== null && current.versionId === ref.dagVersionId)
        return { fn: pick(current.functions, ref, current.filename) };
      const version =
        ref.dagVersionId !== null
          ? await getDagVersionWithCode(opts.db, ref.dagVersionId)
          : await findDagVersionWithCode(opts.db, ref.dagId, ref.specHash);
      if (!version || version.dag_id !== ref.dagId) {
        throw new TaskFunctionNotFoundError(
          `DAG "${ref.dagId}" version ${ref.dagVersionId === null ? `with spec ${ref.specHash.slice(0, 12)}` : `id ${ref.dagVersionId}`} is not in the database; ` +
            'the run cannot execute code it has no record of. Trigger a new run.',
        );
      }
      if (current && current.spec.hash === version.spec_hash && current.code.hash === version.code_hash) {
        return { fn: pick(current.functions, ref, current.filename) };
      }
      if (version.code_hash === null) {
        throw new TaskFunctionNotFoundError(
          `this run needs the code of DAG "${ref.dagId}" version ${version.version_number}, which was stored before Updraft kept each version's code, ` +
            `and the DAGs folder now holds other code${current ? ` (${current.filename})` : ''}. Trigger a new run to use the current version.`,
        );
      }
      const fns = await stored(version);
      return {
        fn: pick(fns, ref, `the stored code of DAG version ${version.version_number}`),
        note:
          `running the code of DAG "${ref.dagId}" version ${version.version_number}, the version this run was created with ` +
          `(stored; ${version.fileloc ?? 'its file'} has changed since)`,
      };
    },
  };
}

function pick(functions: Functions, ref: FunctionRef, where: string): TaskFunction<unknown, unknown> {
  const fn = functions.get(ref.key);
  if (!fn) throw new TaskFunctionNotFoundError(`"${ref.key}" of DAG "${ref.dagId}" has no function in ${where}`);
  return fn;
}

/** Evaluates a stored bundle (first in the probe thread, under the import timeout) and compiles the version's DAG. */
async function evaluateStoredVersion(opts: VersionedFunctionsOptions, version: DagVersionWithCode): Promise<Functions> {
  const needs = `DAG "${version.dag_id}" version ${version.version_number}`;
  const code = await getDagCode(opts.db, version.code_hash!);
  if (!code)
    throw new TaskFunctionNotFoundError(
      `the stored code of ${needs} (${version.code_hash!.slice(0, 12)}) is missing from dag_code`,
    );
  // Its own module name: source maps are kept per module file name, and the current file's differ.
  const filename = path.join(opts.bag.folder, `${code.fileloc}@dag_version_${version.id}`);
  const probe = new DagFileProbe(opts.importTimeoutMs);
  const loaded = await loadDagCode(probe, filename, code.bundle).finally(() => probe.close());
  if (!loaded.ok)
    throw new TaskFunctionNotFoundError(
      `the stored code of ${needs} (${code.fileloc}) no longer loads: ${loaded.error}`,
    );
  const definition = Object.values(loaded.exports)
    .filter(isDagDefinition)
    .find((d) => d.options.dagId === version.dag_id);
  if (!definition)
    throw new TaskFunctionNotFoundError(
      `the stored code of ${needs} (${code.fileloc}) no longer defines DAG "${version.dag_id}"`,
    );
  try {
    return compileDag(definition, code.fileloc).functions;
  } catch (err) {
    throw new TaskFunctionNotFoundError(
      `the stored code of ${needs} (${code.fileloc}) no longer compiles: ${formatError(err)}`,
    );
  }
}
