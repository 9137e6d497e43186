/**
 * The I/O half of step output protocol v1 (protocol.ts holds the rules): reads what a step left in
 * its output folder, puts its output files into the artifact store, checks a Kubernetes step's
 * manifest against the store, materializes input artifacts as local files, and records what an
 * in-process task logs through its context. One instance per try; executors call it, runTask
 * records what it collected (record.ts).
 */
import { lstat, mkdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ArtifactHashMismatchError, ArtifactMissingError, type ArtifactStore } from '../../artifacts/index.js';
import type { Json } from '../../spec/dag-spec.js';
import {
  ARTIFACTS_FILE,
  METRICS_FILE,
  OUTLET_EVENTS_FILE,
  PARAMS_FILE,
  InputArtifactError,
  StepOutputError,
  artifactRef,
  checkArtifactCommon,
  checkMetric,
  checkName,
  checkParams,
  findArtifactRefs,
  mapArtifactRefs,
  parseArtifactsJson,
  parseManifest,
  parseMetricsJsonl,
  parseOutletEventsJson,
  parseParamsJson,
  replaceArtifactOutMarkers,
  type ArtifactOut,
  type ArtifactRefBody,
  type FoundRef,
  type OutletEventExtras,
  type ParamValue,
  type StepMetric,
} from './protocol.js';

/** One output artifact of a try, in the store. */
export interface StoredOutput {
  declared: Omit<ArtifactOut, 'path'> & { path: string | null };
  sha256: string;
  uri: string;
  size: number;
  /** False when the store already held these bytes (written twice, stored once). */
  created: boolean;
}

/** Everything a try recorded besides its return value. */
export interface StepOutputs {
  metrics: StepMetric[];
  params: Record<string, ParamValue>;
  artifacts: StoredOutput[];
  /** What a process or container step set as its outlet events' extras, and the file it wrote them in. */
  outletEvents?: { file: string; extras: OutletEventExtras };
}

export function emptyOutputs(): StepOutputs {
  return { metrics: [], params: {}, artifacts: [] };
}

/** What an in-process task passes to ctx.logArtifact. */
export interface LogArtifactInput {
  name: string;
  /** A file to store (read once), or `bytes`. */
  path?: string;
  bytes?: Uint8Array | string;
  type: ArtifactOut['type'];
  format?: string;
  metadata?: { [key: string]: Json };
  register?: ArtifactOut['register'];
}

function refOf(o: StoredOutput): Json {
  const body: ArtifactRefBody = {
    sha256: o.sha256,
    uri: o.uri,
    name: o.declared.name,
    type: o.declared.type,
    size: o.size,
  };
  if (o.declared.format !== undefined) body.format = o.declared.format;
  return artifactRef(body);
}

async function readOptional(file: string, label: string): Promise<string | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EISDIR') throw new StepOutputError(label, '', 'is a directory, expected a file');
    throw err;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StepOutputError(label, '', 'is not UTF-8 text');
  }
}

export class StepIO {
  readonly #store: ArtifactStore;
  /** Variables a step that talks to the store itself needs (Kubernetes: UPDRAFT_ARTIFACT_STORE, UPDRAFT_S3_ENDPOINT, AWS_REGION). */
  readonly storeEnv: Readonly<Record<string, string>>;
  /** What an in-process task logged through its context. */
  readonly logged: StepOutputs = emptyOutputs();

  /** The store's keys (S3), kept out of every enumerable field so no log or JSON dump carries them. */
  readonly #credentials: Readonly<Record<string, string>>;

  constructor(store: ArtifactStore, storeEnv: Record<string, string> = {}, credentials: Record<string, string> = {}) {
    this.#store = store;
    this.storeEnv = storeEnv;
    this.#credentials = credentials;
  }

  /** Variables with the store's keys for a step that uses the store itself; {} when the worker has none. */
  storeCredentials(): Readonly<Record<string, string>> {
    return this.#credentials;
  }

  get store(): ArtifactStore {
    return this.#store;
  }

  /**
   * Reads `metrics.jsonl`, `params.json` and `artifacts.json` from a finished step's output folder,
   * stores each output file, and replaces `{"$artifact_out": name}` in the return value. A broken
   * rule is a StepOutputError (runTask fails the try without retries), naming file, line and field.
   */
  async collectFolder(
    dir: string,
    returnValue: Json | undefined,
  ): Promise<{ returnValue: Json | undefined; outputs: StepOutputs }> {
    const metricsText = await readOptional(path.join(dir, METRICS_FILE), METRICS_FILE);
    const paramsText = await readOptional(path.join(dir, PARAMS_FILE), PARAMS_FILE);
    const artifactsText = await readOptional(path.join(dir, ARTIFACTS_FILE), ARTIFACTS_FILE);
    const outletText = await readOptional(path.join(dir, OUTLET_EVENTS_FILE), OUTLET_EVENTS_FILE);
    const metrics = metricsText === null ? [] : parseMetricsJsonl(metricsText);
    const params = paramsText === null ? {} : parseParamsJson(paramsText);
    const declared = artifactsText === null ? [] : parseArtifactsJson(artifactsText);
    const files = await Promise.all(declared.map((a, i) => checkOutputFile(dir, a.path, `outputs[${i}].path`)));
    const artifacts: StoredOutput[] = [];
    for (const [i, a] of declared.entries()) {
      const put = await this.#store.put(files[i]!);
      artifacts.push({ declared: a, sha256: put.sha256, uri: put.uri, size: put.size, created: put.created });
    }
    const refs = new Map(artifacts.map((o) => [o.declared.name, refOf(o)]));
    const outputs: StepOutputs = { metrics, params, artifacts };
    if (outletText !== null)
      outputs.outletEvents = { file: OUTLET_EVENTS_FILE, extras: parseOutletEventsJson(outletText) };
    return { returnValue: replaceArtifactOutMarkers(returnValue, refs), outputs };
  }

  /**
   * A Kubernetes step's termination-message manifest: the step put its outputs into the store
   * itself; each must be there with its sha256 and size before it is recorded.
   */
  async collectManifest(value: Json): Promise<{ returnValue: Json | undefined; outputs: StepOutputs }> {
    const file = 'the termination message manifest';
    const m = parseManifest(value, file);
    const artifacts: StoredOutput[] = [];
    for (const [i, a] of m.artifacts.entries()) {
      const field = `artifacts[${i}]`;
      const expectedUri = this.#store.uriFor(a.sha256);
      if (a.uri !== expectedUri) {
        throw new StepOutputError(
          file,
          `${field}.uri`,
          `names another store than this worker's (expected ${expectedUri}); set the same UPDRAFT_ARTIFACT_STORE for the step and the worker`,
        );
      }
      const st = await this.#store.stat(a.sha256);
      if (st === null)
        throw new StepOutputError(
          file,
          `${field}.sha256`,
          `output "${a.name}" is not in the artifact store (${expectedUri}); did the step upload it?`,
        );
      if (st.size !== a.size)
        throw new StepOutputError(
          file,
          `${field}.size`,
          `output "${a.name}" is ${st.size} bytes in the store, the manifest says ${a.size}`,
        );
      const { sha256, uri, size, ...declared } = a;
      artifacts.push({ declared: { ...declared, path: null }, sha256, uri, size, created: false });
    }
    const refs = new Map(artifacts.map((o) => [o.declared.name, refOf(o)]));
    return {
      returnValue: replaceArtifactOutMarkers(m.returnValue, refs, file),
      outputs: { metrics: m.metrics, params: m.params, artifacts, outletEvents: { file, extras: m.outletEvents } },
    };
  }

  /**
   * Every input artifact as a local file under `hostDir` (named by its sha256, hash-checked on the
   * way), and the input with `"path"` added to each ref as the step sees it (`stepDir`: the same
   * folder inside a container).
   */
  async materialize(input: Json | undefined, hostDir: string, stepDir: string = hostDir): Promise<Json | undefined> {
    const refs: FoundRef[] = findArtifactRefs(input);
    if (refs.length === 0) return input;
    await mkdir(hostDir, { recursive: true });
    const done = new Set<string>();
    for (const { where, body } of refs) {
      if (done.has(body.sha256)) continue;
      done.add(body.sha256);
      try {
        await this.#store.get(body.sha256, path.join(hostDir, body.sha256));
      } catch (err) {
        if (err instanceof ArtifactMissingError || err instanceof ArtifactHashMismatchError) {
          throw new InputArtifactError(where, body.name, err.message);
        }
        throw err;
      }
    }
    return mapArtifactRefs(input, (body) => ({ ...body, path: path.posix.join(stepDir, body.sha256) }));
  }

  /** ctx.logMetric */
  logMetric(name: string, value: number, step = 0): void {
    this.logged.metrics.push(
      checkMetric({ name, value, step }, 'ctx.logMetric', `metric ${this.logged.metrics.length}`),
    );
  }

  /** ctx.logParams (and logParam): later values of a name replace earlier ones. */
  logParams(params: Record<string, ParamValue>): void {
    Object.assign(this.logged.params, checkParams(params, 'ctx.logParams'));
  }

  /** ctx.logArtifact: stores the bytes now and returns the ArtifactRef (put it in the return value to pass it on). */
  async logArtifact(input: LogArtifactInput): Promise<Json> {
    const where = 'ctx.logArtifact';
    if (typeof input !== 'object' || input === null)
      throw new StepOutputError(where, '', 'expected {name, path | bytes, type, ...}');
    const { path: file, bytes, ...rest } = input;
    const declared = checkArtifactCommon(
      rest as unknown as Record<string, unknown>,
      where,
      checkName(input.name, where, 'name'),
    );
    if (this.logged.artifacts.some((a) => a.declared.name === declared.name)) {
      throw new StepOutputError(where, declared.name, 'an artifact of this name was already logged by this try');
    }
    if ((file === undefined) === (bytes === undefined))
      throw new StepOutputError(where, declared.name, 'give either path (a file) or bytes');
    let put;
    if (file !== undefined) {
      const s = await stat(file).catch(() => null);
      if (s === null || !s.isFile())
        throw new StepOutputError(
          where,
          `${declared.name}.path`,
          'is not an existing regular file (v1 stores files, not folders)',
        );
      put = await this.#store.put(file);
    } else {
      put = await this.#store.putBytes(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes!);
    }
    const out: StoredOutput = {
      declared: { ...declared, path: file ?? null },
      sha256: put.sha256,
      uri: put.uri,
      size: put.size,
      created: put.created,
    };
    this.logged.artifacts.push(out);
    return refOf(out);
  }
}

/** The output file of an artifacts.json entry: a regular file inside the output folder. */
async function checkOutputFile(dir: string, rel: string, field: string): Promise<string> {
  const full = path.join(dir, rel);
  let s;
  try {
    s = await lstat(full);
  } catch {
    throw new StepOutputError(
      ARTIFACTS_FILE,
      field,
      `"${rel}" does not exist in the output folder (write the file before declaring it)`,
    );
  }
  if (s.isSymbolicLink())
    throw new StepOutputError(ARTIFACTS_FILE, field, `"${rel}" is a symbolic link; write the file itself`);
  if (s.isDirectory())
    throw new StepOutputError(
      ARTIFACTS_FILE,
      field,
      `"${rel}" is a directory; protocol v1 stores files only (archive it, e.g. as .tar)`,
    );
  if (!s.isFile()) throw new StepOutputError(ARTIFACTS_FILE, field, `"${rel}" is not a regular file`);
  // A symlinked folder on the way could lead outside: the real path must stay inside.
  const [realDir, realFile] = await Promise.all([realpath(dir), realpath(full)]);
  if (!realFile.startsWith(realDir + path.sep))
    throw new StepOutputError(ARTIFACTS_FILE, field, `"${rel}" resolves outside the output folder`);
  return full;
}
