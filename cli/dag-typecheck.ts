/**
 * `updraft dags check`: type-checks DAG files with the TypeScript compiler, so a mis-typed edge
 * (a task fed another task's output of the wrong type) is reported before a run, not only by an
 * editor. The worker never type-checks (esbuild strips types). Compiler options come from the
 * nearest tsconfig.json above the DAGs folder, else defaults that follow how the worker bundles;
 * `updraft` always resolves to the types of the SDK this CLI runs with, as the worker does at run time.
 */
import path from 'node:path';
import ts from 'typescript';

export interface TypeProblem {
  /** Absolute path. */
  file: string;
  line: number;
  column: number;
  /** TypeScript's error code, e.g. 2345. */
  code: number;
  message: string;
}

export interface TypecheckResult {
  problems: TypeProblem[];
  /** The DAG files checked (their local imports are checked with them). */
  files: string[];
  /** The tsconfig.json whose options were used (null: defaults). */
  tsconfig: string | null;
}

/** The SDK's declarations next to this module (dist/sdk/index.d.ts). */
const SDK_TYPES = path.resolve(__dirname, '..', 'sdk', 'index.d.ts');

const DEFAULT_OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  esModuleInterop: true,
  skipLibCheck: true,
};

/** Options that concern output only, and would report problems (rootDir) for files they never emit. */
const OUTPUT_OPTIONS = [
  'rootDir',
  'outDir',
  'outFile',
  'declaration',
  'declarationMap',
  'composite',
  'incremental',
  'tsBuildInfoFile',
  'sourceMap',
  'emitDeclarationOnly',
] as const;

function compilerOptions(folder: string): { options: ts.CompilerOptions; tsconfig: string | null } {
  const tsconfig = ts.findConfigFile(folder, (f) => ts.sys.fileExists(f)) ?? null;
  let options = DEFAULT_OPTIONS;
  if (tsconfig) {
    const read = ts.readConfigFile(tsconfig, (f) => ts.sys.readFile(f));
    if (read.error) throw new Error(`${tsconfig}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
    options = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(tsconfig)).options;
  }
  const out: ts.CompilerOptions = { ...options, noEmit: true };
  for (const key of OUTPUT_OPTIONS) delete out[key];
  out.paths = { ...options.paths, updraft: [SDK_TYPES] };
  return { options: out, tsconfig };
}

/**
 * Type-checks `files` (and what they import). Reports the problems in files under `folder` and
 * those of no file (bad options); the SDK's own files and libraries are not the user's to fix.
 */
export function typecheckDagFiles(folder: string, files: readonly string[]): TypecheckResult {
  const { options, tsconfig } = compilerOptions(folder);
  const program = ts.createProgram({ rootNames: [...files], options });
  const inFolder = (f: string): boolean => path.resolve(f).startsWith(path.resolve(folder) + path.sep);
  const problems: TypeProblem[] = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined || d.start === undefined) {
      problems.push({ file: tsconfig ?? folder, line: 0, column: 0, code: d.code, message });
      continue;
    }
    if (!inFolder(d.file.fileName)) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    problems.push({
      file: path.resolve(d.file.fileName),
      line: line + 1,
      column: character + 1,
      code: d.code,
      message,
    });
  }
  return { problems, files: [...files], tsconfig };
}

/** tsc's own format: `file:line:col - error TS2345: message`. */
export function formatTypeProblem(p: TypeProblem, cwd = process.cwd()): string {
  const where = p.line > 0 ? `${path.relative(cwd, p.file)}:${p.line}:${p.column}` : path.relative(cwd, p.file);
  return `${where} - error TS${p.code}: ${p.message}`;
}
