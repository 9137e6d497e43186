/**
 * Step output protocol v1 (docs/ml-steps.md, docs/step-outputs.md): the rules for what a step leaves
 * beside return.json — `metrics.jsonl`, `params.json`, `artifacts.json`, `outlet_events.json` — and for the Kubernetes
 * termination-message manifest, as pure functions over text and JSON values. The same rules as the
 * Python helper (steps/python/updraft_step/protocol.py), so a step cannot write what the worker refuses.
 *
 * Errors name the file, the line (metrics.jsonl) and the field, and never quote the step's content:
 * a step's output may hold a secret, and these messages end up in the task log, the task instance
 * and Temporal's history. Names are quoted only once they passed the name rule (safe characters).
 */
import { sanitizeAssetUri } from '../../engine/assets/asset.js';
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import type { Json } from '../../spec/dag-spec.js';

export const METRICS_FILE = 'metrics.jsonl';
export const PARAMS_FILE = 'params.json';
export const ARTIFACTS_FILE = 'artifacts.json';
export const OUTLET_EVENTS_FILE = 'outlet_events.json';
/** The most JSON one outlet event's extra may take (it is stored with every asset event). */
export const MAX_OUTLET_EXTRA_BYTES = 64 * 1024;
/** The manifest marker a Kubernetes step's termination message carries. */
export const MANIFEST_KEY = '$updraft_manifest';
export const ARTIFACT_REF_KEY = '$artifact';
export const ARTIFACT_OUT_KEY = '$artifact_out';
export const MODEL_VERSION_KEY = '$model_version';

/** MLflow's metric/param name rule. */
export const NAME_RE = /^[A-Za-z0-9_./-]{1,250}$/;
const FORMAT_RE = /^[a-z0-9][a-z0-9_.+-]{0,31}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;
/** MLflow caps a param value at 6000 characters. */
export const MAX_PARAM_CHARS = 6000;
export const ARTIFACT_TYPES = ['model', 'dataset', 'report', 'other'] as const;
export type StepArtifactType = (typeof ARTIFACT_TYPES)[number];

export type ParamValue = string | number | boolean;

export interface StepMetric {
  name: string;
  value: number;
  step: number;
  timestamp?: string;
}

export interface RegisterRequest {
  model: string;
  signature?: { inputs?: Json[]; outputs?: Json[] };
}

/** One declared output of artifacts.json (`path` relative to the output folder). */
export interface ArtifactOut {
  name: string;
  path: string;
  type: StepArtifactType;
  format?: string;
  metadata?: { [key: string]: Json };
  register?: RegisterRequest;
}

/** An output the step already put into the store itself (Kubernetes manifest): `sha256`, `uri`, `size` instead of `path`. */
export interface StoredArtifactOut extends Omit<ArtifactOut, 'path'> {
  sha256: string;
  uri: string;
  size: number;
}

export interface StepManifest {
  returnValue: Json | undefined;
  metrics: StepMetric[];
  params: Record<string, ParamValue>;
  artifacts: StoredArtifactOut[];
  /** The extra of each outlet's event, by the uri the step wrote (checked against the outlets later). */
  outletEvents: OutletEventExtras;
}

/** Airflow's `outlet_events[uri].extra`, as a step wrote it: extra by uri. */
export type OutletEventExtras = Record<string, { [key: string]: Json }>;

/** The body of an ArtifactRef (`{"$artifact": {...}}`), as it travels in XCom. */
export interface ArtifactRefBody {
  sha256: string;
  uri: string;
  name: string;
  type: StepArtifactType;
  format?: string;
  size: number;
  /** The local file the step reads (added per try, for the step only; never stored in XCom). */
  path?: string;
  /** Set on a registered model output: the version it became. */
  model_version?: { model: string; version: number };
}

/**
 * A step broke the output protocol: the try fails without retries (a malformed output is a bug in
 * the step; running it again writes the same). `file` and `field` say where.
 */
export class StepOutputError extends Error {
  override readonly name = 'StepOutputError';
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field === '' ? '' : `${field}: `}${message}`);
  }
}

/** An input artifact cannot be had (not in the store, or corrupt there): the try fails without retries. */
export class InputArtifactError extends Error {
  override readonly name = 'InputArtifactError';
  constructor(
    readonly where: string,
    readonly artifact: string,
    message: string,
  ) {
    super(`input artifact at ${where} ("${artifact}"): ${message}`);
  }
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(v: Record<string, unknown>, allowed: readonly string[], file: string, field: string): void {
  // Unknown keys are named only when they look like keys (a key can be content too).
  const unknown = Object.keys(v).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    const shown = unknown.map((k) => (NAME_RE.test(k) && k.length <= 40 ? k : '<a key>')).join(', ');
    throw new StepOutputError(file, field, `unknown field(s) ${shown}; expected ${allowed.join(', ')}`);
  }
}

export function checkName(name: unknown, file: string, field: string): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new StepOutputError(
      file,
      field,
      `expected a name of 1-250 letters, digits, '_', '-', '.', '/' (MLflow's rule), got ${typeof name === 'string' ? `a string of ${name.length} characters that breaks it` : kind(name)}`,
    );
  }
  return name;
}

export function checkMetric(obj: unknown, file: string, where: string): StepMetric {
  if (!isObject(obj))
    throw new StepOutputError(
      file,
      where,
      `expected an object {"name": ..., "value": ..., "step": ...}, got ${kind(obj)}`,
    );
  onlyKeys(obj, ['name', 'value', 'step', 'timestamp'], file, where);
  if (!('name' in obj)) throw new StepOutputError(file, `${where} field 'name'`, 'is missing');
  const name = checkName(obj['name'], file, `${where} field 'name'`);
  if (!('value' in obj)) throw new StepOutputError(file, `${where} field 'value'`, `is missing (metric "${name}")`);
  const value = obj['value'];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new StepOutputError(
      file,
      `${where} field 'value'`,
      `metric "${name}" needs a finite number, got ${kind(value)}`,
    );
  }
  const step = obj['step'] ?? 0;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step > 2147483647) {
    throw new StepOutputError(
      file,
      `${where} field 'step'`,
      `metric "${name}" needs an integer >= 0, got ${typeof step === 'number' ? String(step) : kind(step)}`,
    );
  }
  const metric: StepMetric = { name, value, step };
  const ts = obj['timestamp'];
  if (ts !== undefined && ts !== null) {
    if (typeof ts !== 'string' || !ISO_TIME_RE.test(ts) || Number.isNaN(new Date(ts).getTime())) {
      throw new StepOutputError(
        file,
        `${where} field 'timestamp'`,
        `metric "${name}" needs an ISO 8601 time, got ${kind(ts)}`,
      );
    }
    metric.timestamp = ts;
  }
  return metric;
}

/** metrics.jsonl: one JSON object per line (blank lines are skipped). */
export function parseMetricsJsonl(text: string, file = METRICS_FILE): StepMetric[] {
  const metrics: StepMetric[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `line ${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new StepOutputError(file, where, `not valid JSON (${jsonSyntaxReason(err)})`);
    }
    metrics.push(checkMetric(obj, file, where));
  });
  return metrics;
}

export function checkParams(obj: unknown, file = PARAMS_FILE): Record<string, ParamValue> {
  if (!isObject(obj)) throw new StepOutputError(file, '', `expected a flat object {"name": value}, got ${kind(obj)}`);
  const out: Record<string, ParamValue> = {};
  for (const [key, value] of Object.entries(obj)) {
    const name = checkName(key, file, 'a key');
    if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) out[name] = value;
    else if (typeof value === 'string') {
      if (value.length > MAX_PARAM_CHARS)
        throw new StepOutputError(
          file,
          `param '${name}'`,
          `the value has ${value.length} characters, at most ${MAX_PARAM_CHARS}`,
        );
      out[name] = value;
    } else {
      throw new StepOutputError(
        file,
        `param '${name}'`,
        `expected a string, a finite number or a boolean (params are flat), got ${kind(value)}`,
      );
    }
  }
  return out;
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StepOutputError(
      file,
      '',
      `not valid JSON (${Buffer.byteLength(text, 'utf8')} bytes): ${jsonSyntaxReason(err)}`,
    );
  }
}

export function parseParamsJson(text: string, file = PARAMS_FILE): Record<string, ParamValue> {
  return checkParams(parseJson(text, file), file);
}

/** A relative path inside the output folder: no absolute path, no `..`, no backslash tricks. */
export function checkRelativePath(p: unknown, file: string, field: string): string {
  if (typeof p !== 'string' || p === '')
    throw new StepOutputError(file, field, `expected a file path relative to the output folder, got ${kind(p)}`);
  if (p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p)) {
    throw new StepOutputError(file, field, 'is absolute; paths are relative to the output folder');
  }
  if (p.replace(/\\/g, '/').split('/').includes('..'))
    throw new StepOutputError(file, field, "contains '..'; paths must stay inside the output folder");
  if (p.includes('\0')) throw new StepOutputError(file, field, 'contains a NUL character');
  return p;
}

function checkJsonObject(v: unknown, file: string, field: string): { [key: string]: Json } {
  if (!isObject(v)) throw new StepOutputError(file, field, `expected an object, got ${kind(v)}`);
  return v as { [key: string]: Json };
}

function checkRegister(v: unknown, type: StepArtifactType, file: string, field: string): RegisterRequest {
  if (!isObject(v))
    throw new StepOutputError(file, field, `expected {"model": "<registered model name>"}, got ${kind(v)}`);
  onlyKeys(v, ['model', 'signature'], file, field);
  const model = v['model'];
  if (typeof model !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,249}$/.test(model)) {
    throw new StepOutputError(
      file,
      `${field}.model`,
      `expected a model name of 1-250 letters, digits, '_', '.', '-' (a letter or digit first), got ${kind(model)}`,
    );
  }
  if (type !== 'model')
    throw new StepOutputError(file, field, "only an artifact of type 'model' registers a model version");
  const reg: RegisterRequest = { model };
  if (v['signature'] !== undefined) {
    const sig = v['signature'];
    if (!isObject(sig))
      throw new StepOutputError(
        file,
        `${field}.signature`,
        `expected {"inputs": [...], "outputs": [...]}, got ${kind(sig)}`,
      );
    onlyKeys(sig, ['inputs', 'outputs'], file, `${field}.signature`);
    for (const k of ['inputs', 'outputs'] as const) {
      if (sig[k] !== undefined && !Array.isArray(sig[k]))
        throw new StepOutputError(file, `${field}.signature.${k}`, `expected a list, got ${kind(sig[k])}`);
    }
    reg.signature = sig as RegisterRequest['signature'] & object;
  }
  return reg;
}

/** The common part of an ArtifactOut (name, type, format, metadata, register). */
export function checkArtifactCommon(
  entry: Record<string, unknown>,
  file: string,
  field: string,
): Omit<ArtifactOut, 'path'> {
  const name = checkName(entry['name'], file, `${field}.name`);
  const type = entry['type'];
  if (typeof type !== 'string' || !(ARTIFACT_TYPES as readonly string[]).includes(type)) {
    throw new StepOutputError(
      file,
      `${field}.type`,
      `expected one of ${ARTIFACT_TYPES.join(', ')}, got ${typeof type === 'string' ? 'another string' : kind(type)}`,
    );
  }
  const out: Omit<ArtifactOut, 'path'> = { name, type: type as StepArtifactType };
  if (entry['format'] !== undefined) {
    if (typeof entry['format'] !== 'string' || !FORMAT_RE.test(entry['format'])) {
      throw new StepOutputError(
        file,
        `${field}.format`,
        `expected a short lower-case format name like onnx, csv, json, got ${kind(entry['format'])}`,
      );
    }
    out.format = entry['format'];
  }
  if (entry['metadata'] !== undefined) out.metadata = checkJsonObject(entry['metadata'], file, `${field}.metadata`);
  if (entry['register'] !== undefined)
    out.register = checkRegister(entry['register'], out.type, file, `${field}.register`);
  return out;
}

function uniqueNames<T extends { name: string }>(items: T[], file: string, field: string): T[] {
  const seen = new Set<string>();
  items.forEach((a, i) => {
    if (seen.has(a.name)) throw new StepOutputError(file, `${field}[${i}].name`, `"${a.name}" is declared twice`);
    seen.add(a.name);
  });
  return items;
}

/** artifacts.json: `{"outputs": [ArtifactOut, ...]}`. Whether each path exists is checked by the reader (I/O). */
export function parseArtifactsJson(text: string, file = ARTIFACTS_FILE): ArtifactOut[] {
  const obj = parseJson(text, file);
  if (!isObject(obj) || !Array.isArray(obj['outputs']))
    throw new StepOutputError(file, '', `expected {"outputs": [ ... ]}, got ${kind(obj)}`);
  onlyKeys(obj, ['outputs'], file, '');
  const outputs = (obj['outputs'] as unknown[]).map((entry, i): ArtifactOut => {
    const field = `outputs[${i}]`;
    if (!isObject(entry))
      throw new StepOutputError(file, field, `expected an object {"name", "path", "type", ...}, got ${kind(entry)}`);
    onlyKeys(entry, ['name', 'path', 'type', 'format', 'metadata', 'register'], file, field);
    const common = checkArtifactCommon(entry, file, field);
    return { ...common, path: checkRelativePath(entry['path'], file, `${field}.path`) };
  });
  return uniqueNames(outputs, file, 'outputs');
}

/** Whether a return value is a Kubernetes step's manifest (`{"$updraft_manifest": 1, ...}`). */
export function isManifest(value: Json | undefined): boolean {
  return isObject(value) && MANIFEST_KEY in value;
}

/**
 * The manifest a Kubernetes step writes as its termination message: the return value (placeholders
 * already replaced by the step), metrics, params, and the outputs it put into the store itself.
 */
export function parseManifest(value: Json, file = 'the termination message manifest'): StepManifest {
  if (!isObject(value)) throw new StepOutputError(file, '', `expected an object, got ${kind(value)}`);
  if (value[MANIFEST_KEY] !== 1) throw new StepOutputError(file, MANIFEST_KEY, 'this worker reads manifest version 1');
  onlyKeys(value, [MANIFEST_KEY, 'return', 'metrics', 'params', 'artifacts', 'outlet_events'], file, '');
  const metricsRaw = value['metrics'] ?? [];
  if (!Array.isArray(metricsRaw))
    throw new StepOutputError(file, 'metrics', `expected a list, got ${kind(metricsRaw)}`);
  const metrics = metricsRaw.map((m, i) => checkMetric(m, file, `metrics[${i}]`));
  const params = checkParams(value['params'] ?? {}, `${file} params`);
  const artsRaw = value['artifacts'] ?? [];
  if (!Array.isArray(artsRaw)) throw new StepOutputError(file, 'artifacts', `expected a list, got ${kind(artsRaw)}`);
  const artifacts = artsRaw.map((entry, i): StoredArtifactOut => {
    const field = `artifacts[${i}]`;
    if (!isObject(entry)) throw new StepOutputError(file, field, `expected an object, got ${kind(entry)}`);
    onlyKeys(entry, ['name', 'type', 'format', 'metadata', 'register', 'sha256', 'uri', 'size'], file, field);
    const common = checkArtifactCommon(entry, file, field);
    const sha256 = entry['sha256'];
    if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256))
      throw new StepOutputError(file, `${field}.sha256`, 'expected 64 lower-case hex characters');
    const uri = entry['uri'];
    if (typeof uri !== 'string' || !/^(s3|file):\/\//.test(uri))
      throw new StepOutputError(file, `${field}.uri`, 'expected the store uri (s3://... or file://...)');
    const size = entry['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw new StepOutputError(file, `${field}.size`, 'expected a byte count (an integer >= 0)');
    return { ...common, sha256, uri, size };
  });
  const ret = value['return'];
  return {
    returnValue: ret === undefined ? undefined : ret,
    metrics,
    params,
    artifacts: uniqueNames(artifacts, file, 'artifacts'),
    outletEvents: checkOutletEvents(value['outlet_events'] ?? {}, file, 'outlet_events'),
  };
}

/**
 * outlet_events.json: `{"<outlet uri>": {"extra": {...}}, ...}` — Airflow's
 * `outlet_events[asset].extra` for a process or container step. Which uris are the task's outlets
 * is checked against its spec (resolveOutletExtras), here only the shape and size.
 */
export function parseOutletEventsJson(text: string, file = OUTLET_EVENTS_FILE): OutletEventExtras {
  return checkOutletEvents(parseJson(text, file), file, '');
}

function checkOutletEvents(v: unknown, file: string, field: string): OutletEventExtras {
  const at = (key: string): string => (field === '' ? key : `${field}.${key}`);
  if (!isObject(v))
    throw new StepOutputError(file, field, `expected {"<outlet uri>": {"extra": {...}}}, got ${kind(v)}`);
  const out: OutletEventExtras = {};
  for (const [uri, entry] of Object.entries(v)) {
    // The uri is not echoed: it is the step's content until it matches an outlet of the task.
    if (uri.trim() === '' || uri.length > 1500)
      throw new StepOutputError(file, field, 'an outlet uri must be 1..1500 characters');
    const where = at(`[${Object.keys(out).length}]`);
    if (!isObject(entry)) throw new StepOutputError(file, where, `expected {"extra": {...}}, got ${kind(entry)}`);
    onlyKeys(entry, ['extra'], file, where);
    const extra = checkJsonObject(entry['extra'] ?? {}, file, `${where}.extra`);
    const bytes = Buffer.byteLength(JSON.stringify(extra), 'utf8');
    if (bytes > MAX_OUTLET_EXTRA_BYTES)
      throw new StepOutputError(
        file,
        `${where}.extra`,
        `is ${bytes} bytes of JSON, at most ${MAX_OUTLET_EXTRA_BYTES} (put large data in an artifact and its uri in the extra)`,
      );
    out[uri] = extra;
  }
  return out;
}

/**
 * The step's outlet extras by the task's outlet uris (normalized as Airflow normalizes them).
 * A uri that is not an outlet of the task is a StepOutputError listing the outlets.
 */
export function resolveOutletExtras(
  events: OutletEventExtras,
  outlets: readonly { uri: string }[],
  taskId: string,
  file: string,
): OutletEventExtras {
  const declared = new Set(outlets.map((o) => o.uri));
  const out: OutletEventExtras = {};
  for (const [i, [raw, extra]] of Object.entries(events).entries()) {
    let uri: string;
    try {
      uri = sanitizeAssetUri(raw, 'uri');
    } catch {
      uri = raw;
    }
    if (!declared.has(uri)) {
      const names = [...declared].map((u) => `'${u}'`).join(', ');
      throw new StepOutputError(
        file,
        `[${i}]`,
        `not an outlet of task "${taskId}" (${names ? `its outlets: ${names}` : 'it has no outlets'}); add the asset to the task's outlets or fix the uri`,
      );
    }
    out[uri] = extra;
  }
  return out;
}

/** `{"$artifact": body}` */
export function artifactRef(body: ArtifactRefBody): Json {
  return { [ARTIFACT_REF_KEY]: body as unknown as Json };
}

export interface FoundRef {
  /** Where in the input: `input.model`, `input.data[0]`. */
  where: string;
  body: ArtifactRefBody;
}

function isRef(v: Json | undefined): v is { [ARTIFACT_REF_KEY]: Json } {
  return isObject(v) && Object.keys(v).length === 1 && ARTIFACT_REF_KEY in v;
}

/** Checks an input ref's body: a consumed artifact needs its sha256 (the key) and its name/type. */
function checkRefBody(v: unknown, where: string): ArtifactRefBody {
  const file = 'the task input';
  if (!isObject(v))
    throw new StepOutputError(
      file,
      where,
      `expected {"$artifact": {"sha256", "uri", "name", "type", "size"}}, got ${kind(v)} inside`,
    );
  const sha256 = v['sha256'];
  if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256))
    throw new StepOutputError(file, `${where}.$artifact.sha256`, 'expected 64 lower-case hex characters');
  const uri = v['uri'];
  if (typeof uri !== 'string' || uri === '')
    throw new StepOutputError(file, `${where}.$artifact.uri`, 'expected the store uri of the bytes');
  const name = v['name'];
  if (typeof name !== 'string' || name.length < 1 || name.length > 250)
    throw new StepOutputError(file, `${where}.$artifact.name`, 'expected 1..250 characters');
  const type = v['type'];
  if (typeof type !== 'string' || !(ARTIFACT_TYPES as readonly string[]).includes(type)) {
    throw new StepOutputError(file, `${where}.$artifact.type`, `expected one of ${ARTIFACT_TYPES.join(', ')}`);
  }
  const size = v['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new StepOutputError(file, `${where}.$artifact.size`, 'expected a byte count');
  return v as unknown as ArtifactRefBody;
}

/** Every ArtifactRef in a JSON value, depth first, in document order. Malformed refs are errors naming where. */
export function findArtifactRefs(value: Json | undefined, where = 'input'): FoundRef[] {
  const found: FoundRef[] = [];
  mapArtifactRefs(
    value,
    (body, w) => {
      found.push({ where: w, body });
      return body;
    },
    where,
  );
  return found;
}

/** A copy of `value` with each ArtifactRef's body replaced by `fn(body)`. */
export function mapArtifactRefs(
  value: Json | undefined,
  fn: (body: ArtifactRefBody, where: string) => ArtifactRefBody,
  where = 'input',
): Json | undefined {
  if (value === undefined || value === null || typeof value !== 'object') return value;
  if (isRef(value)) return artifactRef(fn(checkRefBody(value[ARTIFACT_REF_KEY], where), where));
  if (Array.isArray(value)) return value.map((v, i) => mapArtifactRefs(v, fn, `${where}[${i}]`) as Json);
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) out[k] = mapArtifactRefs(v, fn, `${where}.${k}`) as Json;
  return out;
}

/**
 * Replaces each `{"$artifact_out": "<name>"}` placeholder with that output's ArtifactRef. A
 * placeholder naming no declared output is an error naming where it is.
 */
export function replaceArtifactOutMarkers(
  value: Json | undefined,
  refs: ReadonlyMap<string, Json>,
  file = 'return.json',
  where = 'return',
): Json | undefined {
  if (value === undefined || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value))
    return value.map((v, i) => replaceArtifactOutMarkers(v, refs, file, `${where}[${i}]`) as Json);
  if (Object.keys(value).length === 1 && ARTIFACT_OUT_KEY in value) {
    const name = value[ARTIFACT_OUT_KEY];
    if (typeof name !== 'string' || !NAME_RE.test(name))
      throw new StepOutputError(file, `${where}.${ARTIFACT_OUT_KEY}`, 'expected the name of a declared output');
    const ref = refs.get(name);
    if (ref === undefined) {
      throw new StepOutputError(
        file,
        `${where}.${ARTIFACT_OUT_KEY}`,
        `"${name}" is not an output in artifacts.json (declared: ${[...refs.keys()].join(', ') || 'none'})`,
      );
    }
    return ref;
  }
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value))
    out[k] = replaceArtifactOutMarkers(v, refs, file, `${where}.${k}`) as Json;
  return out;
}
