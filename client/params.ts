/**
 * Validating params against their JSON Schemas (ajv), as Airflow does when a run is triggered:
 * the DAG's params and every task's params, each merged with the run's conf. Messages name where
 * the value came from, what was expected and what was given: `conf.rows: must be >= 1, got 0`.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { mergeParams, type MergedParam } from '../engine/params.js';
import { MASK } from '../secrets/masker.js';
import { isSensitiveName } from '../secrets/sensitive.js';
import type { ParamSchema } from '../spec/dag-spec.js';
import type { DagSpec, Json } from '../spec/dag-spec.js';

export class ParamValidationError extends Error {
  override readonly name = 'ParamValidationError';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

// Not strict: schemas were checked by the compiler (sdk/params.ts), and ajv's strict mode rejects valid
// JSON Schema such as `required` without `properties` or keywords without a `type`.
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

/** Compiled validators by schema JSON; schemas repeat across runs of the same DAG version. */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 1000;

function validatorFor(schema: ParamSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let fn = compiled.get(key);
  if (!fn) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    fn = ajv.compile(schema);
    compiled.set(key, fn);
  }
  return fn;
}

/** Problems with one merged param; empty when it is valid. */
export function checkParam(p: MergedParam): string[] {
  const where = `${p.specOwner ? `${p.specOwner}: ` : ''}${p.source}.${p.name}`;
  if (p.value === undefined) {
    return [
      `${where}: no value passed and the param has no default (pass it in conf, e.g. --conf '{"${p.name}": ...}')`,
    ];
  }
  if (!p.spec || Object.keys(p.spec.schema).length === 0) return [];
  const validate = validatorFor(p.spec.schema);
  if (validate(p.value)) return [];
  return (validate.errors ?? []).map((e) => {
    // A value under a sensitive name (api_key, password, token, ...) is not echoed: the message
    // reaches the terminal, the REST caller and logs.
    const secret =
      isSensitiveName(p.name) || e.instancePath.split('/').some((seg) => seg !== '' && isSensitiveName(seg));
    return `${where}${jsonPath(e.instancePath)}: ${describe(e)}, got ${secret ? MASK : preview(valueAt(p.value as Json, e.instancePath))}`;
  });
}

/** Every problem with the params of a run of `dag` with `conf`; empty when the run may start. */
export function validateRunParams(
  dag: Pick<DagSpec, 'params' | 'param_specs' | 'tasks'>,
  conf: Record<string, Json>,
): string[] {
  const problems: string[] = [];
  const dagLayer = { source: 'params' as const, values: dag.params ?? {}, specs: dag.param_specs };
  const confLayer = { source: 'conf' as const, values: conf };
  // By name: the stored spec is jsonb, which does not keep key order.
  const sorted = (merged: Map<string, MergedParam>): MergedParam[] =>
    [...merged.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const p of sorted(mergeParams([dagLayer, confLayer]))) problems.push(...checkParam(p));
  for (const task of dag.tasks) {
    if (task.params === undefined && task.param_specs === undefined) continue;
    const taskLayer = {
      source: 'params' as const,
      values: task.params ?? {},
      specs: task.param_specs,
      owner: `task "${task.task_id}"`,
    };
    for (const p of sorted(mergeParams([dagLayer, taskLayer, confLayer]))) problems.push(...checkParam(p));
  }
  return [...new Set(problems)];
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `must be ${String(params.type).split(',').join(' or ')}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(params.comparison)} ${String(params.limit)}`;
    case 'multipleOf':
      return `must be a multiple of ${String(params.multipleOf)}`;
    case 'minLength':
      return `must be at least ${String(params.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(params.limit)} characters long`;
    case 'minItems':
      return `must have at least ${String(params.limit)} items`;
    case 'maxItems':
      return `must have at most ${String(params.limit)} items`;
    case 'uniqueItems':
      return `must not have duplicate items (items ${String(params.j)} and ${String(params.i)} are equal)`;
    case 'pattern':
      return `must match the pattern ${JSON.stringify(params.pattern)}`;
    case 'format':
      return `must be a valid ${String(params.format)}`;
    case 'enum':
      return `must be one of ${(params.allowedValues as Json[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'required':
      return `must have the property "${String(params.missingProperty)}"`;
    case 'additionalProperties':
      return `must not have the property "${String(params.additionalProperty)}"`;
    default:
      return e.message ?? `fails the "${e.keyword}" rule`;
  }
}

/** `/cfg/layers/0` → `.cfg.layers[0]`. */
function jsonPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer
    .split('/')
    .slice(1)
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((seg) =>
      /^\d+$/.test(seg) ? `[${seg}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`,
    )
    .join('');
}

function valueAt(value: Json, pointer: string): Json {
  let current: Json = value;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (current === null || typeof current !== 'object') return null;
    current = (Array.isArray(current) ? current[Number(seg)] : current[seg]) ?? null;
  }
  return current;
}

function preview(value: Json): string {
  const text = JSON.stringify(value);
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}
