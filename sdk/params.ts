/**
 * Params (Airflow's `Param`): a default value plus a JSON Schema the run's value must satisfy.
 * DAG params, task params (they override the DAG's) and the trigger's conf (it overrides both, as
 * with Airflow's `dag_run_conf_overrides_params=True`).
 *
 * Pure: the `Param` type, the schema checks the compiler runs and the merging of the layers.
 * Validating values against schemas needs ajv, an I/O-free but non-SDK package, so it lives in
 * client/params.ts.
 */
import type { Json, ParamSchema, ParamSpec } from '../spec/dag-spec.js';
import { PARAM_FORMATS, PARAM_TYPES } from '../spec/dag-spec.js';

export type ParamOptions = ParamSchema;

const PARAM_KIND = 'updraft.param';

/**
 * A param: `new Param(10, { type: 'integer', minimum: 1 })`, or `param(...)`. Without a default
 * (`new Param(undefined, {...})`) every run must pass the value in its conf.
 */
export class Param {
  readonly kind = PARAM_KIND;
  readonly hasDefault: boolean;
  readonly schema: ParamSchema;
  readonly description: string | null;

  constructor(
    readonly value?: Json,
    options: ParamOptions = {},
  ) {
    this.hasDefault = value !== undefined;
    const { description, ...schema } = options;
    this.schema = schema;
    this.description = description ?? null;
  }
}

/**
 * Declares a param with a schema.
 *
 * ### Examples
 * ```ts
 * dag({ dagId: 'train', params: { rows: param(100, { type: 'integer', minimum: 1 }), mode: 'fast' } }, ...)
 * ```
 */
export function param(value: Json | undefined, options: ParamOptions = {}): Param {
  return new Param(value, options);
}

/** Matches by brand, not instanceof: a DAG file may carry its own copy of the SDK. */
export function isParam(value: unknown): value is Param {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === PARAM_KIND;
}

export interface ExtractedParams {
  /** Default values (what DagSpec.params has always held). */
  values: Record<string, Json>;
  /** Only params declared with `param()` that say something (a schema, a description or no default). */
  specs: Record<string, ParamSpec>;
}

/**
 * Splits authored params into default values and specs, checking every schema keyword.
 * `fail(message, field)` is called with fields like `params.rows.minimum`.
 */
export function extractParams(
  authored: Record<string, unknown>,
  prefix: string,
  fail: (message: string, field: string) => never,
): ExtractedParams {
  const values: Record<string, Json> = {};
  const specs: Record<string, ParamSpec> = {};
  if (typeof authored !== 'object' || authored === null || Array.isArray(authored)) {
    fail('must be an object of param name to value or param()', prefix);
  }
  for (const [name, raw] of Object.entries(authored)) {
    const field = `${prefix}.${name}`;
    if (raw === undefined) continue;
    if (!isParam(raw)) {
      values[name] = toJson(raw, field, fail);
      continue;
    }
    checkSchema(raw.schema, field, fail);
    if (raw.description !== null && typeof raw.description !== 'string')
      fail('description must be a string', `${field}.description`);
    if (raw.hasDefault) values[name] = toJson(raw.value, field, fail);
    if (!raw.hasDefault || raw.description !== null || Object.keys(raw.schema).length > 0) {
      specs[name] = { schema: toJson(raw.schema, field, fail) as ParamSchema, description: raw.description };
    }
  }
  return { values, specs };
}

function toJson(value: unknown, field: string, fail: (message: string, field: string) => never): Json {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return fail(`must be a JSON value, got ${typeof value}`, field);
    return JSON.parse(text) as Json;
  } catch (err) {
    return fail(`must be a JSON value: ${(err as Error).message}`, field);
  }
}

const NUMBER_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'] as const;
const COUNT_KEYWORDS = ['minLength', 'maxLength', 'minItems', 'maxItems'] as const;
const KNOWN_KEYWORDS = new Set<string>([
  'type',
  'enum',
  'const',
  ...NUMBER_KEYWORDS,
  ...COUNT_KEYWORDS,
  'pattern',
  'format',
  'items',
  'uniqueItems',
  'properties',
  'required',
  'additionalProperties',
  'title',
  'description',
  'examples',
]);

/** Checks a schema's shape so a bad schema fails at parse time, not at the first trigger. */
export function checkSchema(schema: unknown, field: string, fail: (message: string, field: string) => never): void {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail('a schema must be an object', field);
  const s = schema as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (s[key] === undefined) continue;
    if (!KNOWN_KEYWORDS.has(key)) {
      fail(`unknown schema keyword "${key}" (supported: ${[...KNOWN_KEYWORDS].join(', ')})`, field);
    }
  }
  const at = (k: string): string => `${field}.${k}`;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.length === 0) fail('must name at least one type', at('type'));
    for (const t of types) {
      if (!(PARAM_TYPES as readonly unknown[]).includes(t))
        fail(`unknown type ${JSON.stringify(t)} (expected one of ${PARAM_TYPES.join(', ')})`, at('type'));
    }
  }
  if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.length === 0))
    fail('must be a non-empty array of allowed values', at('enum'));
  for (const k of NUMBER_KEYWORDS) {
    if (s[k] !== undefined && (typeof s[k] !== 'number' || !Number.isFinite(s[k])))
      fail(`must be a number, got ${JSON.stringify(s[k])}`, at(k));
  }
  if (typeof s.multipleOf === 'number' && s.multipleOf <= 0) fail(`must be > 0, got ${s.multipleOf}`, at('multipleOf'));
  for (const k of COUNT_KEYWORDS) {
    if (s[k] !== undefined && (!Number.isInteger(s[k]) || (s[k] as number) < 0))
      fail(`must be a non-negative integer, got ${JSON.stringify(s[k])}`, at(k));
  }
  if (typeof s.minimum === 'number' && typeof s.maximum === 'number' && s.minimum > s.maximum) {
    fail(`minimum ${s.minimum} is greater than maximum ${s.maximum}`, field);
  }
  if (typeof s.minLength === 'number' && typeof s.maxLength === 'number' && s.minLength > s.maxLength) {
    fail(`minLength ${s.minLength} is greater than maxLength ${s.maxLength}`, field);
  }
  if (s.pattern !== undefined) {
    if (typeof s.pattern !== 'string') fail('must be a regular expression string', at('pattern'));
    try {
      new RegExp(s.pattern as string, 'u');
    } catch (err) {
      fail(`is not a valid regular expression: ${(err as Error).message}`, at('pattern'));
    }
  }
  if (s.format !== undefined && !(PARAM_FORMATS as readonly unknown[]).includes(s.format)) {
    fail(`unknown format ${JSON.stringify(s.format)} (supported: ${PARAM_FORMATS.join(', ')})`, at('format'));
  }
  if (s.uniqueItems !== undefined && typeof s.uniqueItems !== 'boolean')
    fail('must be true or false', at('uniqueItems'));
  for (const k of ['title', 'description'] as const) {
    if (s[k] !== undefined && typeof s[k] !== 'string') fail('must be a string', at(k));
  }
  if (s.examples !== undefined && !Array.isArray(s.examples)) fail('must be an array', at('examples'));
  if (s.items !== undefined) checkSchema(s.items, at('items'), fail);
  if (s.properties !== undefined) {
    if (typeof s.properties !== 'object' || s.properties === null || Array.isArray(s.properties))
      fail('must be an object of property schemas', at('properties'));
    for (const [name, sub] of Object.entries(s.properties as Record<string, unknown>))
      checkSchema(sub, `${at('properties')}.${name}`, fail);
  }
  if (s.required !== undefined && (!Array.isArray(s.required) || !s.required.every((r) => typeof r === 'string'))) {
    fail('must be an array of property names', at('required'));
  }
  if (s.additionalProperties !== undefined && typeof s.additionalProperties !== 'boolean') {
    checkSchema(s.additionalProperties, at('additionalProperties'), fail);
  }
}

/** Where a param's value came from, for error messages (`conf.rows`, `params.rows`). */
