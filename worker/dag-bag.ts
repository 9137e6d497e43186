/**
 * The DAG bag: the DAG files of the DAGs folder, each bundled, evaluated and compiled on its own. A
 * file that throws, does not parse, or defines an invalid DAG (cycle, duplicate task id, ...)
 * becomes an import error; the other files still load. TypeScript files are bundled with esbuild
 * (no type checking here: `updraft dags check` does that) together with their local imports; the
 * SDK stays external and is the loader's own, so one copy is in play.
 *
 * The bundle is the file's code: its hash identifies the code of every DAG the file defines, and it
 * is stored with each DAG version (worker/dag-sync.ts) so a run can execute the code of its version
 * after the file changed (worker/dag-functions.ts). `refresh()` re-bundles the files and evaluates
 * again only those whose bundle changed; the DAG processor (worker/dag-processor.ts) calls it.
 *
 * Each changed file is first evaluated in a probe thread (DagFileProbe) under Airflow's
 * dagbag_import_timeout: top-level code that never returns (or takes too long) becomes an import
 * error instead of blocking the worker, and so does a file that calls process.exit. Only files
 * that loaded there are evaluated in this process (their task functions must live here).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { build, type Plugin } from 'esbuild';
import * as sdk from '../sdk/index.js';
import { compileDag, type CompiledDag } from '../sdk/compile.js';
import { isDagDefinition } from '../sdk/dag.js';

export interface ImportError {
  /** Path relative to the DAGs folder. */
  filename: string;
  stacktrace: string;
}

/** A DAG file's bundled code: what a DAG version executes. */
export interface DagCode {
  /** sha256 of the bundle. */
  hash: string;
  bundle: string;
}

export interface LoadedDag extends CompiledDag {
  filename: string;
  code: DagCode;
  /** The dag_version row this DAG was stored as (set by syncDagBag). */
  versionId?: number;
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
        if (
          target.startsWith(SOURCE_SDK_DIR + path.sep) ||
          target === SOURCE_SDK_DIR ||
          target.startsWith(SDK_DIR + path.sep)
        ) {
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

/** What one refresh changed, by filename relative to the DAGs folder ('.': the folder itself went or came back). */
export interface DagBagChanges {
  /** Files parsed again because their code changed (or that are new). */
  changed: string[];
  removed: string[];
}

/** One file's last parse. */
interface ParsedFile {
  filename: string;
  /** null when the file did not bundle (syntax error, missing import). */
  code: DagCode | null;
  dags: LoadedDag[];
  error: string | null;
}

export class DagBag {
  readonly dags = new Map<string, LoadedDag>();
  private errors: ImportError[] = [];
  private readonly files = new Map<string, ParsedFile>();
  private listed = false;

  constructor(
    readonly folder: string,
    private readonly options: DagBagOptions = {},
  ) {}

  /** Loads every file. Never throws for a bad file. */
  static async load(folder: string, options: DagBagOptions = {}): Promise<DagBag> {
    const bag = new DagBag(path.resolve(folder), options);
    await bag.refresh();
    return bag;
  }

  get importErrors(): readonly ImportError[] {
    return this.errors;
  }

  get(dagId: string): LoadedDag | undefined {
    return this.dags.get(dagId);
  }

  /**
   * Parses again what changed. `list`: list the folder for new and removed files (otherwise only
   * the known files are bundled again; the first refresh always lists). Never throws for a bad file.
   */
  async refresh(opts: { list?: boolean } = {}): Promise<DagBagChanges> {
    const changes: DagBagChanges = { changed: [], removed: [] };
    const wasMissing = this.errors.some((e) => e.filename === '.');
    if (!fs.existsSync(this.folder)) {
      changes.removed.push(...this.files.keys());
      if (!wasMissing) changes.changed.push('.');
      this.files.clear();
      this.dags.clear();
      this.errors = [
        { filename: '.', stacktrace: `DAGs folder ${this.folder} does not exist (set UPDRAFT_DAGS_FOLDER)` },
      ];
      this.listed = false;
      return changes;
    }
    if (wasMissing) changes.removed.push('.');
    const list = opts.list === true || !this.listed;
    const present = list
      ? listDagFiles(this.folder)
      : [...this.files.keys()].map((f) => path.join(this.folder, f)).filter((f) => fs.existsSync(f));
    this.listed = true;
    const seen = new Set(present.map((f) => path.relative(this.folder, f)));
    for (const filename of [...this.files.keys()]) {
      if (!seen.has(filename)) {
        this.files.delete(filename);
        changes.removed.push(filename);
      }
    }
    const probe = new DagFileProbe(this.options.importTimeoutMs ?? DEFAULT_IMPORT_TIMEOUT_MS);
    try {
      for (const file of present) {
        const filename = path.relative(this.folder, file);
        const parsed = await this.parseFile(file, filename, probe);
        if (parsed) {
          this.files.set(filename, parsed);
          changes.changed.push(filename);
        }
      }
    } finally {
      await probe.close();
    }
    if (changes.changed.length > 0 || changes.removed.length > 0) this.assemble();
    return changes;
  }

  /** The file's new parse, or null when its code is unchanged since the last one. */
  private async parseFile(file: string, filename: string, probe: DagFileProbe): Promise<ParsedFile | null> {
    const previous = this.files.get(filename);
    let code: DagCode;
    try {
      code = await bundleDagFile(file, this.folder);
    } catch (err) {
      const error = formatError(err);
      if (previous && previous.code === null && previous.error === error) return null;
      return { filename, code: null, dags: [], error };
    }
    if (previous?.code?.hash === code.hash) return null;
    const failed = (error: string): ParsedFile => ({ filename, code, dags: [], error });
    const loaded = await loadDagCode(probe, file, code.bundle);
    if (!loaded.ok) return failed(loaded.error);
    const dags: LoadedDag[] = [];
    for (const definition of Object.values(loaded.exports).filter(isDagDefinition)) {
      try {
        const dag = compileDag(definition, filename);
        const twice = dags.find((c) => c.spec.dag_id === dag.spec.dag_id);
        if (twice)
          throw new sdk.DagDefinitionError(
            `DAG "${dag.spec.dag_id}" is defined twice: in ${filename} and in ${filename}`,
          );
        dags.push({ ...dag, filename, code });
      } catch (err) {
        return failed(formatError(err)); // Airflow drops the whole file when one of its DAGs is broken.
      }
    }
    return { filename, code, dags, error: null };
  }

  /** Rebuilds the DAG map and the import errors from the files, in file order. */
  private assemble(): void {
    this.dags.clear();
    this.errors = [];
    for (const filename of [...this.files.keys()].sort()) {
      const f = this.files.get(filename)!;
      if (f.error !== null) {
        this.errors.push({ filename, stacktrace: f.error });
        continue;
      }
      const taken = f.dags.find((d) => this.dags.has(d.spec.dag_id));
      if (taken) {
        const first = this.dags.get(taken.spec.dag_id)!.filename;
        this.errors.push({
          filename,
          stacktrace: `DagDefinitionError: DAG "${taken.spec.dag_id}" is defined twice: in ${first} and in ${filename}`,
        });
        continue;
      }
      for (const d of f.dags) this.dags.set(d.spec.dag_id, d);
    }
  }
}

/**
 * A DAG file bundled as CommonJS with its local imports (esbuild; syntax errors throw with
 * file:line:col), with an inline source map so stack traces point at the .ts lines. Paths in the
 * bundle are relative to the DAGs folder, so the same file gives the same bundle from any cwd.
 */
export async function bundleDagFile(file: string, folder = path.dirname(file)): Promise<DagCode> {
  const result = await build({
    entryPoints: [file],
    absWorkingDir: folder,
    // Beside the source, so the source map's paths resolve against the file's own folder.
    outfile: file.replace(/\.[cm]?[jt]s$/, '.bundle.js'),
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
  const bundle = result.outputFiles[0]!.text;
  return { hash: createHash('sha256').update(bundle).digest('hex'), bundle };
}

/** A DAG file called process.exit while it was being evaluated. */
export class DagFileExitError extends Error {
  override readonly name = 'DagFileExitError';
}

/**
 * Evaluates bundled DAG file code in its own module named `filename` (its imports of 'updraft' get
 * this SDK). Stack traces of the code map to the .ts lines (source maps on). process.exit during
 * the evaluation throws DagFileExitError instead of ending the process (or the probe thread).
 */
export function evaluateDagCode(filename: string, code: string): Record<string, unknown> {
  process.setSourceMapsEnabled(true);
  const mod = new Module(filename, module);
  mod.filename = filename;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
    path.dirname(filename),
  );
  const originalRequire = mod.require.bind(mod);
  mod.require = Object.assign(
    (id: string) => (id === 'updraft' ? sdk : originalRequire(id)),
    originalRequire,
  ) as NodeJS.Require;
  const exit = process.exit;
  process.exit = ((exitCode?: number | string | null) => {
    throw new DagFileExitError(
      `the DAG file called process.exit(${exitCode ?? ''}) at top level; a DAG file must only define DAGs (end a task with an error instead)`,
    );
  }) as typeof process.exit;
  try {
    (mod as unknown as { _compile(code: string, filename: string): void })._compile(code, filename);
  } finally {
    process.exit = exit;
  }
  return mod.exports as Record<string, unknown>;
}

/**
 * Evaluates bundled DAG code first in the probe thread (import timeout, process.exit), then, when
 * it loaded there, in this process. Never throws: an error comes back formatted.
 */
export async function loadDagCode(
  probe: DagFileProbe,
  filename: string,
  bundle: string,
): Promise<{ ok: true; exports: Record<string, unknown> } | { ok: false; error: string }> {
  try {
    const probed = await probe.run(filename, bundle);
    return probed.ok ? { ok: true, exports: evaluateDagCode(filename, bundle) } : probed;
  } catch (err) {
    return { ok: false, error: formatError(err) };
  }
}

export type ProbeResult = { ok: true } | { ok: false; error: string };

/**
 * Evaluates DAG file code in a worker thread, one file at a time, each under the import timeout. A
 * file that overruns gets the thread terminated (V8 stops even a busy loop) and a fresh one for the
 * next file; so does a thread that exits (a file that called process.exit later, from a timer).
 */
export class DagFileProbe {
  private worker: Worker | null = null;
  private nextId = 0;

  constructor(private readonly timeoutMs: number) {}

  async run(filename: string, code: string): Promise<ProbeResult> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<ProbeResult>((resolve) => {
      const done = (result: ProbeResult): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (m: { id: number } & ProbeResult): void => {
        if (m.id === id) done(m.ok ? { ok: true } : { ok: false, error: m.error });
      };
      const onError = (err: Error): void => {
        this.worker = null;
        done({ ok: false, error: `the DAG file probe thread failed while loading it: ${formatError(err)}` });
      };
      const onExit = (exitCode: number): void => {
        this.worker = null;
        done({
          ok: false,
          error: `DagFileExitError: the DAG file ended its loader thread (process.exit(${exitCode})); a DAG file must only define DAGs`,
        });
      };
      const timer = setTimeout(() => {
        this.worker = null;
        worker.off('exit', onExit);
        void worker.terminate();
        const seconds = this.timeoutMs / 1000;
        done({
          ok: false,
          error:
            `DagBagImportTimeout: the file's top-level code ran for more than ${seconds}s (dagbag_import_timeout) and was stopped. ` +
            'Move slow work (network calls, loops, heavy imports) into tasks, or raise UPDRAFT_DAGBAG_IMPORT_TIMEOUT.',
        });
      }, this.timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ id, filename, code });
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
  const e = err as {
    errors?: Array<{ text: string; location?: { file: string; line: number; column: number; lineText: string } }>;
  };
  if (Array.isArray(e?.errors) && e.errors.length > 0) {
    // esbuild syntax errors: file:line:col and the offending line.
    return e.errors
      .map((x) =>
        x.location
          ? `${x.location.file}:${x.location.line}:${x.location.column}: error: ${x.text}\n    ${x.location.lineText}`
          : x.text,
      )
      .join('\n');
  }
  if (err instanceof sdk.DagDefinitionError) return `${err.name}: ${err.message}`;
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
