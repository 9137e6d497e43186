/**
 * The compiler's task step: one declared task, with the defaults of its DAG and groups, becomes a
 * TaskSpec (operator fields, retries, resources, process/container/sensor parts, templating).
 */
import { compileOutlets } from './compile-assets.js';
import { compileCrossRunOptions } from './cross-run.js';
import { durationField, positiveInt, stripUndefined, type Fail } from './compile-fields.js';
import type {
  ContainerTaskOptions,
  DefaultArgs,
  ProcessTaskOptions,
  ResourceOptions,
  TaskDefaults,
} from './options.js';
import { extractParams } from './params.js';
import { compileModelGate } from './model-gate.js';
import { compileModelVersion } from './model-version.js';
import { compileSensor } from './sensors.js';
import type { DeclaredGroup, DeclaredTask } from './task.js';
import { TEMPLATE_FIELDS, type InputTemplate, type TaskSpec } from '../spec/dag-spec.js';
import { TRIGGER_RULE_ALIASES, isTriggerRule, type TriggerRule } from '../spec/trigger-rule.js';

export function compileTask(
  t: DeclaredTask,
  dagDefaults: TaskDefaults & DefaultArgs,
  upstream: string[],
  downstream: string[],
  input: InputTemplate | null,
  fileloc: string,
  fail: Fail,
): TaskSpec {
  const o = { ...dagDefaults, ...stripUndefined(t.options) };
  const id = t.taskId;
  const f = (message: string, field: string): never => fail(message, id, field);
  let rule = o.triggerRule as string;
  rule = TRIGGER_RULE_ALIASES[rule] ?? rule;
  if (!isTriggerRule(rule)) {
    f(
      `unknown trigger rule "${String(o.triggerRule)}" (expected one of Airflow's 13 rules, e.g. all_success, all_done, none_failed_min_one_success)`,
      'triggerRule',
    );
  }
  if (!Number.isInteger(o.retries) || o.retries < 0)
    f(`expected a non-negative integer, got ${String(o.retries)}`, 'retries');
  if (!['downstream', 'upstream', 'absolute'].includes(o.weightRule)) {
    f(`expected 'downstream', 'upstream' or 'absolute', got ${String(o.weightRule)}`, 'weightRule');
  }
  if (t.teardown !== null) rule = 'all_done_setup_success';
  const spec: TaskSpec = {
    task_id: id,
    kind: t.kind,
    operator: t.control ? CONTROL_OPERATOR_NAMES[t.control.type] : OPERATOR_NAMES[t.kind],
    upstream,
    downstream,
    trigger_rule: rule as TriggerRule,
    retries: o.retries,
    retry_delay: durationField(o.retryDelay, 'retryDelay', f),
    retry_exponential_backoff: Boolean(o.retryExponentialBackoff),
    max_retry_delay: o.maxRetryDelay == null ? null : durationField(o.maxRetryDelay, 'maxRetryDelay', f),
    execution_timeout: o.executionTimeout == null ? null : durationField(o.executionTimeout, 'executionTimeout', f),
    queue: o.queue ?? null,
    pool: o.pool,
    pool_slots: positiveInt(o.poolSlots, 'poolSlots', (m, _t, field) => f(m, field ?? 'poolSlots')),
    priority_weight: Number.isInteger(o.priorityWeight)
      ? o.priorityWeight
      : f(`expected an integer, got ${String(o.priorityWeight)}`, 'priorityWeight'),
    weight_rule: o.weightRule,
    owner: o.owner,
    outlets: compileOutlets(t.options.outlets, f),
    doc_md: t.options.docMd ?? null,
    input,
    resources: compileResources((t.options as { resources?: ResourceOptions }).resources, f),
  };
  if (t.kind === 'function') spec.function = { fileloc };
  if (t.kind === 'process') {
    const p = t.options as ProcessTaskOptions;
    if (!Array.isArray(p.argv) || p.argv.length === 0 || !p.argv.every((a) => typeof a === 'string')) {
      f('expected a non-empty array of strings (program and arguments)', 'argv');
    }
    if (p.shell && p.argv.length !== 1) f('with shell: true, argv must hold exactly one script string', 'argv');
    for (const [k, v] of Object.entries(p.env ?? {})) {
      if (typeof v !== 'string') f(`env.${k} must be a string, got ${typeof v}`, 'env');
    }
    spec.process = { argv: [...p.argv], env: { ...(p.env ?? {}) }, cwd: p.cwd ?? null, shell: p.shell ?? false };
  }
  if (t.kind === 'container') spec.container = compileContainer(t.options as ContainerTaskOptions, f);
  if (t.kind === 'sensor') Object.assign(spec, compileSensor(t, fileloc, f));
  if (t.kind === 'model_gate') Object.assign(spec, compileModelGate(t, f));
  if (t.kind === 'model_version') Object.assign(spec, compileModelVersion(t, f));
  Object.assign(spec, compileCrossRunOptions(o, f));
  if (t.options.params !== undefined) {
    const taskParams = extractParams(t.options.params, 'params', f);
    spec.params = taskParams.values;
    if (Object.keys(taskParams.specs).length > 0) spec.param_specs = taskParams.specs;
  }
  if (t.options.templateFields !== undefined) {
    const allowed = TEMPLATE_FIELDS[t.kind].allowed;
    const fields = t.options.templateFields;
    if (!Array.isArray(fields)) f('expected an array of field names', 'templateFields');
    for (const name of fields) {
      if (!allowed.includes(name)) {
        f(
          `"${String(name)}" cannot be templated in ${/^[aeiou]/.test(t.kind) ? 'an' : 'a'} ${t.kind} task (templatable: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`,
          'templateFields',
        );
      }
    }
    spec.template_fields = [...new Set(fields)];
  }
  if (t.group !== null) spec.task_group = t.group.groupId;
  if (t.setup) spec.is_setup = true;
  if (t.teardown !== null) {
    spec.is_teardown = true;
    if (t.teardown.onFailureFailDagrun) spec.on_failure_fail_dagrun = true;
  }
  if (t.control) spec.control = { ...t.control };
  return spec;
}

const CONTROL_OPERATOR_NAMES: Record<NonNullable<DeclaredTask['control']>['type'], string> = {
  branch: 'BranchTypeScriptOperator',
  short_circuit: 'ShortCircuitOperator',
  latest_only: 'LatestOnlyOperator',
  model_gate: 'ModelGateOperator',
};

/** The DAG's defaults overridden by each enclosing group's defaultArgs, outermost first. */
export function groupDefaults(
  group: DeclaredGroup | null,
  dagDefaults: TaskDefaults & DefaultArgs,
): TaskDefaults & DefaultArgs {
  if (group === null) return dagDefaults;
  return { ...groupDefaults(group.parent, dagDefaults), ...stripUndefined(group.defaultArgs ?? {}) };
}

const OPERATOR_NAMES: Record<DeclaredTask['kind'], string> = {
  function: 'TypeScriptOperator',
  process: 'ProcessOperator',
  container: 'ContainerOperator',
  empty: 'EmptyOperator',
  sensor: 'BaseSensorOperator',
  model_gate: 'ModelGateOperator',
  model_version: 'ModelVersionOperator',
};

const QUANTITY = /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

function compileResources(
  r: ResourceOptions | undefined,
  f: (m: string, field: string) => never,
): TaskSpec['resources'] {
  const cpu = r?.cpu === undefined ? null : String(r.cpu);
  if (cpu !== null && !QUANTITY.test(cpu))
    f(`expected a CPU quantity like '500m' or '2', got '${cpu}'`, 'resources.cpu');
  const memory = r?.memory ?? null;
  if (memory !== null && !QUANTITY.test(memory))
    f(`expected a memory quantity like '512Mi' or '4Gi', got '${memory}'`, 'resources.memory');
  const gpu = r?.gpu ?? 0;
  if (!Number.isInteger(gpu) || gpu < 0) f(`expected a non-negative integer, got ${String(gpu)}`, 'resources.gpu');
  const gpuType = r?.gpuType ?? null;
  if (gpuType !== null && !/^[a-z0-9][a-z0-9._-]*$/i.test(gpuType))
    f(`expected a GPU type like 'a100', got '${gpuType}'`, 'resources.gpuType');
  return { cpu, memory, gpu, gpu_type: gpuType };
}

function stringRecord(
  v: Record<string, string>,
  field: string,
  f: (m: string, field: string) => never,
): Record<string, string> {
  for (const [key, value] of Object.entries(v))
    if (typeof value !== 'string') f(`${key} must be a string, got ${typeof value}`, field);
  return { ...v };
}

function compileContainer(
  o: ContainerTaskOptions,
  f: (m: string, field: string) => never,
): NonNullable<TaskSpec['container']> {
  if (typeof o.image !== 'string' || o.image.trim() === '')
    f('expected an image name like "updraft/step-python:latest"', 'image');
  const strings = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) f('expected an array of strings', field);
    return [...(v as string[])];
  };
  for (const [k, v] of Object.entries(o.env ?? {}))
    if (typeof v !== 'string') f(`env.${k} must be a string, got ${typeof v}`, 'env');
  const mounts = (o.mounts ?? []).map((m, i) => {
    if (!m || typeof m.source !== 'string' || typeof m.target !== 'string' || !m.target.startsWith('/')) {
      f(`mounts[${i}] needs a source and an absolute target path`, 'mounts');
    }
    return { source: m.source, target: m.target, read_only: m.readOnly ?? false };
  });
  if (o.runtime !== undefined && o.runtime !== 'docker' && o.runtime !== 'kubernetes')
    f(`expected 'docker' or 'kubernetes', got '${String(o.runtime)}'`, 'runtime');
  const pull = o.pullPolicy ?? 'never';
  if (!['never', 'if_not_present', 'always'].includes(pull))
    f(`expected 'never', 'if_not_present' or 'always', got '${String(pull)}'`, 'pullPolicy');
  const k = o.kubernetes ?? {};
  return {
    image: o.image,
    command: o.command === undefined ? null : strings(o.command, 'command'),
    args: strings(o.args, 'args'),
    env: { ...(o.env ?? {}) },
    working_dir: o.workingDir ?? null,
    mounts,
    runtime: o.runtime ?? null,
    pull_policy: pull,
    network_mode: o.networkMode ?? null,
    kubernetes: {
      namespace: k.namespace ?? null,
      service_account: k.serviceAccount ?? null,
      image_pull_secrets: [...(k.imagePullSecrets ?? [])],
      node_selector: { ...(k.nodeSelector ?? {}) },
      tolerations: (k.tolerations ?? []).map((t) => ({
        key: t.key,
        operator: t.operator ?? 'Equal',
        ...(t.value !== undefined ? { value: t.value } : {}),
        ...(t.effect !== undefined ? { effect: t.effect } : {}),
      })),
      pending_timeout:
        k.pendingTimeout === undefined ? null : durationField(k.pendingTimeout, 'kubernetes.pendingTimeout', f),
      ...(k.podAnnotations ? { pod_annotations: stringRecord(k.podAnnotations, 'kubernetes.podAnnotations', f) } : {}),
    },
  };
}
