/**
 * The DAG bag: loads every DAG file of the DAGs folder on its own. A file that throws, does not
 * parse, or defines an invalid DAG (cycle, duplicate task id, ...) becomes an import error; the
 * other files still load. TypeScript files are transpiled with esbuild (no type checking here:
 * `npm run typecheck` does that); the SDK is shared with the loader so one copy is in play.
 *
 * Each file is first evaluated in a probe thread (worker/dag-probe.ts) under Airflow's
 * dagbag_import_timeout: top-level code that never returns (or takes too long) becomes an import
 * error instead of blocking the worker; the thread is then terminated. Only files that loaded there
 * are evaluated in this process (their task functions must live here).
 */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { build, type Plugin } from 'esbuild';
import * as sdk from '../sdk/index.js';
import { compileDag, type CompiledDag } from '../sdk/compile.js';
import { isDagDefinition } from '../sdk/dag.js';
import type { TaskFunction } from '../sdk/task.js';
import type { FunctionLookup, FunctionResolver } from '../activities/executors/in-process.js';

export interface ImportError {
  /** Path relative to the DAGs folder. */
  filename: string;
  stacktrace: string;
}

export interface LoadedDag extends CompiledDag {
  filename: string;
}

const SDK_DIR = path.resolve(__dirname, '..', 'sdk');
const SOURCE_SDK_DIR = path.resolve(__dirname, '..', '..', 'sdk');
const DAG_FILE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP_FILE = /(\.d\.ts|\.test\.[cm]?[jt]s)$/;

/** Files considered DAG files: scripts that mention `dag(` (Airflow's "safe mode" heuristic). */
export function listDagFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (DAG_FILE.test(entry.name) && !SKIP_FILE.test(entry.name)) {
        if (/\bdag\s*\(/.test(fs.readFileSync(full, 'utf8'))) out.push(full);
      }
    }
  };
  walk(folder);
  return out;
}

/** Treats imports of 'updraft' or of the repository's sdk/ folder as the loader's own SDK. */
const sdkPlugin: Plugin = {
  name: 'updraft-sdk',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.path === 'updraft') return { path: 'updraft', external: true };
      if (args.path.startsWith('.') && args.resolveDir) {
        const target = path.resolve(args.resolveDir, args.path);
        if (target.startsWith(SOURCE_SDK_DIR + path.sep) || target === SOURCE_SDK_DIR || target.startsWith(SDK_DIR + path.sep)) {
          return { path: 'updraft', external: true };
        }
      }
      return undefined;
    });
  },
};

/** Airflow's `[core] dagbag_import_timeout` default. */
export const DEFAULT_IMPORT_TIMEOUT_MS = 30_000;

export interface DagBagOptions {
  /** How long one file's top-level code may run (UPDRAFT_DAGBAG_IMPORT_TIMEOUT). @default 30 s */
  importTimeoutMs?: number;
}

export class DagBag {
  readonly dags = new Map<string, LoadedDag>();
  readonly importErrors: ImportError[] = [];

  constructor(readonly folder: string) {}

  /** Loads (or reloads) every file. Never throws for a bad file. */
  static async load(folder: string, options: DagBagOptions = {}): Promise<DagBag> {
    const bag = new DagBag(path.resolve(folder));
    if (!fs.existsSync(bag.folder)) {
      bag.importErrors.push({ filename: '.', stacktrace: `DAGs folder ${bag.folder} does not exist (set UPDRAFT_DAGS_FOLDER)` });
      return bag;
    }
    const probe = new DagFileProbe(options.importTimeoutMs ?? DEFAULT_IMPORT_TIMEOUT_MS);
    try {
      for (const file of listDagFiles(bag.folder)) await bag.loadFile(file, probe);
    } finally {
      await probe.close();
    }
    return bag;
  }

  private async loadFile(file: string, probe: DagFileProbe): Promise<void> {
    const filename = path.relative(this.folder, file);
    let exports: Record<string, unknown>;
    try {
      const probed = await probe.run(file);
      if (!probed.ok) {
        this.importErrors.push({ filename, stacktrace: probed.error });
        return;
      }
      exports = evaluateDagCode(file, probed.code);
    } catch (err) {
      this.importErrors.push({ filename, stacktrace: formatError(err) });
      return;
    }
    const definitions = Object.values(exports).filter(isDagDefinition);
    const compiled: LoadedDag[] = [];
    for (const definition of definitions) {
      try {
        const dag = compileDag(definition, filename);
        const existing = this.dags.get(dag.spec.dag_id) ?? compiled.find((c) => c.spec.dag_id === dag.spec.dag_id);
        if (existing) {
          throw new sdk.DagDefinitionError(`DAG "${dag.spec.dag_id}" is defined twice: in ${existing.filename} and in ${filename}`);
        }
        compiled.push({ ...dag, filename });
      } catch (err) {
        this.importErrors.push({ filename, stacktrace: formatError(err) });
        return; // Airflow drops the whole file when one of its DAGs is broken.
      }
    }
    for (const dag of compiled) this.dags.set(dag.spec.dag_id, dag);
  }

  get(dagId: string): LoadedDag | undefined {
    return this.dags.get(dagId);
  }

  /** In-process task functions for the worker's in-process executor. */
  functionResolver(): FunctionResolver {
    return {
      resolve: (dagId: string, taskId: string, specHash: string): FunctionLookup => {
        const dag = this.dags.get(dagId);
        if (!dag) throw new Error(`DAG "${dagId}" is not in this worker's DAG bag (${this.folder}); is the worker using the same DAGs folder?`);
        const fn: TaskFunction<unknown, unknown> | undefined = dag.functions.get(taskId);
        if (!fn) throw new Error(`task "${taskId}" of DAG "${dagId}" has no function in ${dag.filename}`);
        return dag.spec.hash === specHash
          ? { fn }
          : { fn, warning: `${dag.filename} changed since this run started (version ${specHash.slice(0, 8)} → ${dag.spec.hash.slice(0, 8)}); running the current code of "${taskId}"` };
      },
    };
  }
}

/** Transpiles and evaluates one DAG file in its own module. */
export async function evaluateDagFile(file: string): Promise<Record<string, unknown>> {
  return evaluateDagCode(file, await transpileDagFile(file));
}

/** A DAG file as CommonJS (esbuild; syntax errors throw with file:line:col). */
export async function transpileDagFile(file: string): Promise<string> {
  const result = await build({
    entryPoints: [file],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    packages: 'external',
    plugins: [sdkPlugin],
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Evaluates transpiled DAG file code in its own module (its imports of 'updraft' get this SDK). */
export function evaluateDagCode(file: string, code: string): Record<string, unknown> {
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
  const originalRequire = mod.require.bind(mod);
  mod.require = Object.assign((id: string) => (id === 'updraft' ? sdk : originalRequire(id)), originalRequire) as NodeJS.Require;
  (mod as unknown as { _compile(code: string, filename: string): void })._compile(code, file);
  return mod.exports as Record<string, unknown>;
}

export type ProbeResult = { ok: true; code: string } | { ok: false; error: string };

/**
 * Evaluates DAG files in a worker thread, one at a time, each under the import timeout. A file that
 * overruns gets the thread terminated (V8 stops even a busy loop) and a fresh one for the next file.
 */
class DagFileProbe {
  private worker: Worker | null = null;

  constructor(private readonly timeoutMs: number) {}

  async run(file: string): Promise<ProbeResult> {
    const worker = this.worker ?? this.start();
    return new Promise<ProbeResult>((resolve) => {
      const done = (result: ProbeResult): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve(result);
      };
      const onMessage = (m: { file: string } & ProbeResult): void => {
        if (m.file === file) done(m.ok ? { ok: true, code: m.code } : { ok: false, error: m.error });
      };
      const onError = (err: Error): void => {
        this.worker = null;
        done({ ok: false, error: `the DAG file probe thread failed while loading it: ${formatError(err)}` });
      };
      const timer = setTimeout(() => {
        this.worker = null;
        void worker.terminate();
        const seconds = this.timeoutMs / 1000;
        done({
          ok: false,
          error: `DagBagImportTimeout: the file's top-level code ran for more than ${seconds}s (dagbag_import_timeout) and was stopped. ` +
            'Move slow work (network calls, loops, heavy imports) into tasks, or raise UPDRAFT_DAGBAG_IMPORT_TIMEOUT.',
        });
      }, this.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage(file);
    });
  }

  private start(): Worker {
    const worker = new Worker(path.join(__dirname, 'dag-probe.js'));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

export function formatError(err: unknown): string {
  const e = err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number; lineText: string } }> };
  if (Array.isArray(e?.errors) && e.errors.length > 0) {
    // esbuild syntax errors: file:line:col and the offending line.
    return e.errors
      .map((x) => (x.location ? `${x.location.file}:${x.location.line}:${x.location.column}: error: ${x.text}\n    ${x.location.lineText}` : x.text))
      .join('\n');
  }
  if (err instanceof sdk.DagDefinitionError) return `${err.name}: ${err.message}`;
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
