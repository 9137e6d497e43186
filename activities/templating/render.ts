/**
 * Renders a task's templated fields before a try runs (Airflow's render_templates): process argv,
 * env values and cwd; container image, command, args, env values and working_dir; a function
 * task's input when it opts in. `template_fields` on the task narrows the list.
 *
 * nunjucks renders synchronously, but Variables and Connections live in Postgres. So `var` and
 * `conn` are lazy: a first pass notes which ones the templates touch, those are loaded, and the
 * templates are rendered again. Only what a template touches is read (and decrypted), and the
 * secrets among it are given to the try's masker.
 */
import type { Json, TaskSpec } from '../../spec/dag-spec.js';
import { TEMPLATE_FIELDS } from '../../spec/dag-spec.js';
import { connectionUri } from '../../secrets/connection-uri.js';
import { jsonSyntaxReason } from '../../secrets/json-error.js';
import type { SecretMasker } from '../../secrets/masker.js';
import { isSensitiveName, sensitiveLeaves, stringLeaves } from '../../secrets/sensitive.js';
import type { ConnectionValue } from '../../secrets/store.js';
import { buildTemplateContext, type SecretAccessors, type TemplateFacts } from './context.js';
import { TemplateError, isTemplate, renderTemplate } from './environment.js';

/** Where rendering reads Variables and Connections (Postgres in the worker; a map in tests). */
export interface SecretLookup {
  variable(key: string): Promise<string | undefined>;
  connection(connId: string): Promise<ConnectionValue | undefined>;
}

/** A field that failed to render: the message names the field, the template and why. */
export class TemplateRenderError extends Error {
  override readonly name = 'TemplateRenderError';
  constructor(
    readonly field: string,
    readonly template: string,
    reason: string,
  ) {
    super(
      `cannot render ${field} ${JSON.stringify(template.length > 120 ? `${template.slice(0, 117)}...` : template)}: ${reason}`,
    );
  }
}

/** A connection as templates see it: Airflow's attributes plus extra_dejson and get_uri(). */
export interface TemplateConnection extends ConnectionValue {
  extra_dejson: Record<string, Json>;
  get_uri(): string;
}

function toTemplateConnection(c: ConnectionValue): TemplateConnection {
  let extraDejson: Record<string, Json> = {};
  if (c.extra) {
    try {
      const parsed = JSON.parse(c.extra) as Json;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) extraDejson = parsed;
    } catch {
      // Airflow's extra_dejson is {} for an extra that is not JSON.
    }
  }
  return { ...c, extra_dejson: extraDejson, get_uri: () => connectionUri(c) };
}

/**
 * What a lookup of a not-yet-loaded value answers during a pass that will be re-rendered. Used as
 * a key (`conn[var.value.name]`) it prints as PENDING_KEY, which is never looked up.
 */
const PENDING_KEY = '\u0000updraft:pending\u0000';
const PENDING = Object.freeze({ toString: () => PENDING_KEY });

/**
 * Variables and Connections loaded on demand. A lookup of something not loaded yet is recorded
 * as pending and answers PENDING for this pass; null in the maps means "does not exist".
 */
export class LazySecrets {
  private readonly vars = new Map<string, string | null>();
  private readonly json = new Map<string, Json>();
  private readonly conns = new Map<string, TemplateConnection | null>();
  private readonly pendingVars = new Set<string>();
  private readonly pendingConns = new Set<string>();

  constructor(private readonly masker?: SecretMasker) {}

  get hasPending(): boolean {
    return this.pendingVars.size > 0 || this.pendingConns.size > 0;
  }

  accessors(): SecretAccessors {
    const variable = (key: string): string | typeof PENDING | undefined => {
      const v = this.vars.get(key);
      if (v !== undefined) return v ?? undefined;
      this.pendingVars.add(key);
      return PENDING;
    };
    const lookup = <T>(read: (key: string) => T | undefined) => {
      const get = (key: string | symbol): T | undefined =>
        typeof key === 'string' && key !== PENDING_KEY ? read(key) : undefined;
      return new Proxy({} as Record<string, T>, {
        get: (_t, key) => get(key),
        has: (_t, key) => get(key) !== undefined,
      });
    };
    return {
      var: {
        value: lookup(variable),
        json: lookup((key) => {
          const text = variable(key);
          if (typeof text !== 'string') return text;
          if (!this.json.has(key)) {
            try {
              this.json.set(key, JSON.parse(text) as Json);
            } catch (err) {
              // The parser's message would quote the variable, which may be a secret.
              throw new TemplateError(
                `var.json.${key}: variable "${key}" is not valid JSON (${Buffer.byteLength(text, 'utf8')} bytes): ${jsonSyntaxReason(err)}`,
              );
            }
          }
          return this.json.get(key);
        }),
      },
      conn: lookup((id) => {
        const c = this.conns.get(id);
        if (c !== undefined) return c ?? undefined;
        this.pendingConns.add(id);
        return PENDING;
      }),
    };
  }

  /** Loads what the last pass asked for and registers the secrets among it with the masker. */
  async loadPending(lookup: SecretLookup): Promise<void> {
    const vars = [...this.pendingVars];
    const conns = [...this.pendingConns];
    this.pendingVars.clear();
    this.pendingConns.clear();
    for (const key of vars) {
      const val = await lookup.variable(key);
      this.vars.set(key, val ?? null);
      if (val !== undefined && isSensitiveName(key)) {
        this.masker?.add(val);
        try {
          for (const leaf of stringLeaves(JSON.parse(val) as Json)) this.masker?.add(leaf);
        } catch {
          // Not JSON: the whole value is registered above.
        }
      }
    }
    for (const id of conns) {
      const c = await lookup.connection(id);
      const tc = c ? toTemplateConnection(c) : null;
      this.conns.set(id, tc);
      if (tc) {
        this.masker?.add(tc.password);
        for (const leaf of sensitiveLeaves(tc.extra_dejson)) this.masker?.add(leaf);
      }
    }
  }
}

/** Renders strings until no new Variable or Connection is asked for (each can be asked once). */
export async function renderWithSecrets<T>(
  render: (accessors: SecretAccessors) => T,
  secrets: LazySecrets,
  lookup: SecretLookup,
): Promise<T> {
  const accessors = secrets.accessors();
  for (let pass = 1; ; pass++) {
    let result: T | undefined;
    let error: unknown;
    try {
      result = render(accessors);
    } catch (err) {
      error = err;
    }
    if (!secrets.hasPending || pass > 25) {
      if (error !== undefined) throw error;
      return result as T;
    }
    await secrets.loadPending(lookup);
  }
}

export interface RenderTarget {
  spec: TaskSpec;
  input: Json | undefined;
}

/** The fields of `spec` that are templated (its template_fields, or its kind's defaults). */
export function templateFieldsOf(spec: TaskSpec): readonly string[] {
  return spec.template_fields ?? TEMPLATE_FIELDS[spec.kind]?.default ?? [];
}

/** True when some templated field holds Jinja syntax (otherwise rendering is skipped entirely). */
export function needsRendering(spec: TaskSpec, input: Json | undefined): boolean {
  let found = false;
  walkFields(spec, input, (_field, value) => {
    if (isTemplate(value)) found = true;
    return value;
  });
  return found;
}

/**
 * Calls `visit` on every string of the templated fields and returns copies with the results.
 * For a function task's input only literal strings of the authored input are visited, never
 * values that came from upstream XComs (Airflow does not render resolved XComArgs either).
 */
function walkFields(
  spec: TaskSpec,
  input: Json | undefined,
  visit: (field: string, value: string) => string,
): RenderTarget {
  const fields = new Set(templateFieldsOf(spec));
  const next: TaskSpec = { ...spec };
  const list = (values: string[], field: string): string[] => values.map((v, i) => visit(`${field}[${i}]`, v));
  const env = (values: Record<string, string>, field: string): Record<string, string> =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, visit(`${field}.${k}`, v)]));
  if (spec.process) {
    const p = { ...spec.process };
    if (fields.has('argv')) p.argv = list(p.argv, 'argv');
    if (fields.has('env')) p.env = env(p.env, 'env');
    if (fields.has('cwd') && p.cwd !== null) p.cwd = visit('cwd', p.cwd);
    next.process = p;
  }
  if (spec.container) {
    const c = { ...spec.container };
    if (fields.has('image')) c.image = visit('image', c.image);
    if (fields.has('command') && c.command !== null) c.command = list(c.command, 'command');
    if (fields.has('args')) c.args = list(c.args, 'args');
    if (fields.has('env')) c.env = env(c.env, 'env');
    if (fields.has('working_dir') && c.working_dir !== null) c.working_dir = visit('working_dir', c.working_dir);
    next.container = c;
  }
  // A file sensor's path (Airflow's FileSensor templates filepath).
  if (spec.sensor?.check.type === 'file' && fields.has('filepath')) {
    next.sensor = {
      ...spec.sensor,
      check: { ...spec.sensor.check, filepath: visit('filepath', spec.sensor.check.filepath) },
    };
  }
  let nextInput = input;
  if (fields.has('input') && spec.input !== null && input !== undefined) {
    nextInput = walkInput(spec.input, input, 'input', visit);
  }
  return { spec: next, input: nextInput };
}

function walkInput(template: Json, value: Json, path: string, visit: (field: string, value: string) => string): Json {
  if (typeof template === 'string' && typeof value === 'string') return visit(path, value);
  if (template === null || typeof template !== 'object' || value === null || typeof value !== 'object') return value;
  if ('$xcom' in (template as object) && !Array.isArray(template)) return value;
  if (Array.isArray(template) && Array.isArray(value)) {
    return value.map((v, i) => (i < template.length ? walkInput(template[i]!, v, `${path}[${i}]`, visit) : v));
  }
  if (!Array.isArray(template) && !Array.isArray(value)) {
    const t = template as Record<string, Json>;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k in t ? walkInput(t[k]!, v, `${path}.${k}`, visit) : v]),
    );
  }
  return value;
}

/**
 * Renders the templated fields of a try. Returns the spec and input unchanged (and reads nothing)
 * when no templated field holds Jinja syntax.
 */
export async function renderTaskFields(
  target: RenderTarget,
  facts: TemplateFacts,
  lookup: SecretLookup,
  masker?: SecretMasker,
): Promise<RenderTarget> {
  if (!needsRendering(target.spec, target.input)) return target;
  const secrets = new LazySecrets(masker);
  return renderWithSecrets(
    (accessors) => {
      const context = buildTemplateContext(facts, accessors);
      return walkFields(target.spec, target.input, (field, value) => {
        if (!isTemplate(value)) return value;
        try {
          return renderTemplate(value, context);
        } catch (err) {
          if (err instanceof TemplateError) throw new TemplateRenderError(field, value, err.message);
          throw new TemplateRenderError(field, value, err instanceof Error ? err.message : String(err));
        }
      });
    },
    secrets,
    lookup,
  );
}
