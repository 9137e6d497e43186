/**
 * The Jinja environment: nunjucks (a Jinja-compatible engine) with Jinja's Python-isms turned on
 * (`d.get(k, default)`, `d.items()`, True/False/None), no HTML escaping, and StrictUndefined-like
 * behaviour: printing an undefined (or null) value fails. Airflow's ds/ts filters are added.
 *
 * nunjucks reports "attempted to output null or undefined value" without saying what; errors
 * here name the expression and, for a lookup chain, the first part that is missing
 * (`params.rowz is undefined`, `connection "db" is not defined`).
 */
import nunjucks from 'nunjucks';
import { formatDs, formatDsNodash, formatTs, formatTsNodash, formatTsNodashWithTz, toDate } from './dates.js';

/** A template that could not be rendered; the message says why, without the field (render.ts adds it). */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const TEMPLATE_NAME = 'template';
let environment: nunjucks.Environment | undefined;

/** The shared environment. installJinjaCompat patches nunjucks process-wide; only Updraft uses it. */
export function templateEnvironment(): nunjucks.Environment {
  if (environment) return environment;
  nunjucks.installJinjaCompat();
  const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true });
  const dateFilter = (name: string, format: (d: Date) => string) =>
    env.addFilter(name, (value: unknown) => format(toDate(value, `the ${name} filter`)));
  dateFilter('ds', formatDs);
  dateFilter('ds_nodash', formatDsNodash);
  dateFilter('ts', formatTs);
  dateFilter('ts_nodash', formatTsNodash);
  dateFilter('ts_nodash_with_tz', formatTsNodashWithTz);
  env.addFilter('tojson', (value: unknown) => JSON.stringify(value));
  strictFilters(env);
  environment = env;
  return env;
}

const UNDEFINED_INPUT = 'updraft: undefined filter input: ';
/** Filters that exist to handle undefined values. */
const LENIENT_FILTERS = new Set(['default', 'd']);

/**
 * nunjucks filters turn undefined into '' (`{{ params.typo | upper }}` prints nothing); Jinja's
 * StrictUndefined, which Airflow uses, fails instead. So every filter but `default` fails too.
 */
function strictFilters(env: nunjucks.Environment): void {
  const filters = (env as unknown as { filters: Record<string, (...args: unknown[]) => unknown> }).filters;
  for (const [name, filter] of Object.entries(filters)) {
    if (LENIENT_FILTERS.has(name)) continue;
    filters[name] = function (this: unknown, value: unknown, ...args: unknown[]) {
      if (value === undefined) throw new Error(`${UNDEFINED_INPUT}${name}`);
      return filter.call(this, value, ...args);
    };
  }
}

/** Compiled templates by source: the same argv strings render on every try of every run. */
const cache = new Map<string, nunjucks.Template>();
const MAX_CACHED = 2000;

function compile(source: string): nunjucks.Template {
  let template = cache.get(source);
  if (!template) {
    try {
      template = new nunjucks.Template(source, templateEnvironment(), TEMPLATE_NAME, true);
    } catch (err) {
      throw new TemplateError(`template syntax error: ${cleanMessage(err)}`);
    }
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(source, template);
  }
  return template;
}

/** True when a string holds Jinja syntax; other strings render to themselves and are left alone. */
export function isTemplate(value: string): boolean {
  return value.includes('{{') || value.includes('{%') || value.includes('{#');
}

export function renderTemplate(source: string, context: Record<string, unknown>): string {
  const template = compile(source);
  try {
    return template.render(context);
  } catch (err) {
    const message = rawMessage(err);
    const at = /^\([^)\n]*\) \[Line (\d+), Column (\d+)\]\n\s*attempted to output null or undefined value/.exec(
      message,
    );
    if (at) throw new TemplateError(explainUndefined(source, Number(at[1]) - 1, Number(at[2]) - 1, context));
    const filter = message.indexOf(UNDEFINED_INPUT);
    if (filter >= 0)
      throw new TemplateError(
        explainFilterInput(source, message.slice(filter + UNDEFINED_INPUT.length).trim(), context),
      );
    throw new TemplateError(cleanMessage(err));
  }
}

function rawMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Drops nunjucks' "(template) [Line 1, Column 3]" header and the wrapped error's class name. */
function cleanMessage(err: unknown): string {
  return rawMessage(err)
    .replace(/^\([^)\n]*\)(?: \[Line \d+, Column \d+\])?\n\s*/, '')
    .replace(/^(?:Template render error: )?(?:[A-Z]\w*Error|Error): /, '')
    .trim();
}

interface AstNode {
  typename: string;
  lineno: number;
  colno: number;
  fields: string[];
  children?: AstNode[];
  value?: unknown;
  target?: AstNode;
  val?: AstNode;
  name?: AstNode;
  args?: AstNode;
  [key: string]: unknown;
}

const parser = (
  nunjucks as unknown as { parser: { parse(src: string, extensions?: unknown[], opts?: object): AstNode } }
).parser;

function findOutput(node: AstNode, lineno: number, colno: number): AstNode | undefined {
  if (node.typename === 'Output' && node.lineno === lineno && node.colno === colno) {
    const expr = node.children?.find((c) => c.typename !== 'TemplateData');
    if (expr) return expr;
  }
  for (const field of node.fields ?? []) {
    const value = node[field];
    const candidates = Array.isArray(value) ? value : [value];
    for (const c of candidates) {
      if (c && typeof c === 'object' && typeof (c as AstNode).typename === 'string') {
        const found = findOutput(c as AstNode, lineno, colno);
        if (found) return found;
      }
    }
  }
  return undefined;
}

type ChainStep = { kind: 'symbol'; name: string } | { kind: 'key'; key: string | number };

/** `a.b[0]` as steps, or null when the expression is not a plain lookup chain. */
function chainOf(node: AstNode): ChainStep[] | null {
  if (node.typename === 'Symbol') return [{ kind: 'symbol', name: String(node.value) }];
  if (node.typename === 'LookupVal' && node.target && node.val?.typename === 'Literal') {
    const head = chainOf(node.target);
    const key = node.val.value;
    if (head && (typeof key === 'string' || typeof key === 'number')) return [...head, { kind: 'key', key }];
  }
  return null;
}

function chainText(steps: ChainStep[]): string {
  return steps
    .map((s) =>
      s.kind === 'symbol'
        ? s.name
        : typeof s.key === 'number'
          ? `[${s.key}]`
          : /^[A-Za-z_]\w*$/.test(s.key)
            ? `.${s.key}`
            : `[${JSON.stringify(s.key)}]`,
    )
    .join('');
}

/** Source text of an expression node, for messages (common shapes only). */
function exprText(node: AstNode): string {
  const chain = chainOf(node);
  if (chain) return chainText(chain);
  if (node.typename === 'Literal') return JSON.stringify(node.value);
  if (node.typename === 'Filter' && node.name && node.args?.children?.[0]) {
    return `${exprText(node.args.children[0])} | ${exprText(node.name)}`;
  }
  if (node.typename === 'FunCall' && node.name) return `${exprText(node.name)}(...)`;
  if (node.typename === 'LookupVal' && node.target) return `${exprText(node.target)}[...]`;
  return 'the expression';
}

const DATE_KEYS = new Set(['ds', 'ds_nodash', 'ts', 'ts_nodash', 'ts_nodash_with_tz']);

/** Says which part of the printed expression at (lineno, colno) is undefined or null. */
export function explainUndefined(
  source: string,
  lineno: number,
  colno: number,
  context: Record<string, unknown>,
): string {
  let expr: AstNode | undefined;
  try {
    expr = findOutput(parser.parse(source, [], {}), lineno, colno);
  } catch {
    expr = undefined;
  }
  if (!expr) return 'a printed value is undefined or null';
  return explainChain(expr, context) ?? `${exprText(expr)} is undefined or null`;
}

/**
 * For a lookup chain rooted in the context, which prefix is missing (`params.cfg.x is
 * undefined`); null when the expression is not such a chain or nothing in it is missing.
 */
function explainChain(expr: AstNode, context: Record<string, unknown>): string | null {
  const chain = chainOf(expr);
  if (!chain || chain[0]?.kind !== 'symbol') return null;
  const root = chain[0].name;
  if (!Object.prototype.hasOwnProperty.call(context, root)) {
    if (DATE_KEYS.has(root)) return `${root} is undefined: this run has no logical date`;
    return `${root} is undefined`;
  }
  let value: unknown = context[root];
  for (let i = 1; i <= chain.length; i++) {
    if (value === undefined || value === null)
      return describeMissing(chain.slice(0, i), value === null ? 'null' : 'undefined');
    if (i === chain.length) break;
    const step = chain[i]!;
    value = step.kind === 'key' ? (value as Record<string | number, unknown>)[step.key] : undefined;
  }
  return null;
}

/**
 * nunjucks gives no position for errors raised inside filters, so look for the uses of the filter
 * whose input is a chain that is undefined in the context.
 */
function explainFilterInput(source: string, filterName: string, context: Record<string, unknown>): string {
  let root: AstNode | undefined;
  try {
    root = parser.parse(source, [], {});
  } catch {
    root = undefined;
  }
  const found: string[] = [];
  const visit = (node: AstNode): void => {
    if (node.typename === 'Filter' && node.name?.typename === 'Symbol' && node.name.value === filterName) {
      const input = node.args?.children?.[0];
      const why = input ? explainChain(input, context) : null;
      if (why && !found.includes(why)) found.push(why);
    }
    for (const field of node.fields ?? []) {
      const value = node[field];
      for (const c of Array.isArray(value) ? value : [value]) {
        if (c && typeof c === 'object' && typeof (c as AstNode).typename === 'string') visit(c as AstNode);
      }
    }
  };
  if (root) visit(root);
  return found.length > 0
    ? `${found[0]} (given to the ${filterName} filter)`
    : `the ${filterName} filter was given an undefined value`;
}

function describeMissing(steps: ChainStep[], what: 'null' | 'undefined'): string {
  const text = chainText(steps);
  const names = steps.map((s) => (s.kind === 'symbol' ? s.name : String(s.key)));
  if (
    what === 'undefined' &&
    names.length === 3 &&
    names[0] === 'var' &&
    (names[1] === 'value' || names[1] === 'json')
  ) {
    return `${text} is undefined: variable "${names[2]}" does not exist (set it with \`updraft variables set ${names[2]} <value>\`)`;
  }
  if (what === 'undefined' && names.length === 2 && names[0] === 'conn') {
    return `${text} is undefined: connection "${names[1]}" is not defined (add it with \`updraft connections add ${names[1]} --conn-type ...\`)`;
  }
  return `${text} is ${what}`;
}
