/**
 * A registry lookup as a task: `d.modelVersion({ taskId, model, alias })` declares a task of kind
 * `model_version` that runs no user code. When it runs it resolves `models:/<model>@<alias>` (MLflow's
 * alias URI) in the registry and returns the version with an ArtifactRef of its file, so a step can
 * read the model (`step.artifact(...)` materializes it, and lineage records the read), or null
 * while the alias is unset (the first run; a model not registered yet). The reference pipeline
 * hands the champion to its evaluation this way, so the gate compares both on the same rows.
 * activities/model-version.ts runs it.
 */
import type { TaskOptions } from './options.js';
import type { DeclaredTask, Task } from './task.js';
import type { XComArg } from './xcom-arg.js';
import type { ArtifactRefJson } from './model-gate.js';
import { DEFAULT_ALIAS, aliasNameProblem, modelNameProblem } from '../engine/model-gate.js';
import type { ModelVersionSpec, TaskSpec } from '../spec/dag-spec.js';

export interface ModelVersionOptions extends TaskOptions {
  /** The registered model. Not registered yet: the task returns null (there is no champion). */
  model: string;
  /** The alias to resolve. @default 'champion' */
  alias?: string;
}

/** The task's XCom (return_value) when the alias is set. */
export interface ResolvedModelVersion {
  model: string;
  version: number;
  alias: string;
  sha256: string;
  format: string | null;
  /** The version's metrics as recorded at registration (on its own run's test rows). */
  metrics: Record<string, number>;
  /** The version's file in the artifact store: a step input that materializes it. */
  artifact: ArtifactRefJson;
}

export interface ModelVersionBuilder {
  /**
   * The version behind a model's alias, resolved when the task runs (kind `model_version`, no user
   * code): a ResolvedModelVersion, or null when the alias is unset or the model is not registered
   * yet. Pass it whole to a step (its `artifact` is a normal artifact input) or pick a field.
   */
  modelVersion(options: ModelVersionOptions): XComArg<ResolvedModelVersion | null>;
}

/** How the builder declares a task (dag.ts passes its own). */
export type DeclareModelVersionTask = <I, O>(kind: 'model_version', options: TaskOptions) => Task<I, O>;

export function modelVersionBuilder(declare: DeclareModelVersionTask): ModelVersionBuilder {
  return {
    // No input: nothing upstream is needed to read the registry (chain() orders it when it must wait).
    modelVersion: (options) => declare<void, ResolvedModelVersion | null>('model_version', options)(),
  };
}

type FieldFail = (message: string, field: string) => never;

/** The spec fields of a registry lookup (compile-task.ts merges them into the TaskSpec). */
export function compileModelVersion(t: DeclaredTask, f: FieldFail): Pick<TaskSpec, 'model_version'> {
  const o = t.options as ModelVersionOptions;
  const modelProblem = modelNameProblem(o.model);
  if (modelProblem !== undefined) f(modelProblem, 'model');
  const alias = o.alias ?? DEFAULT_ALIAS;
  const aliasProblem = aliasNameProblem(alias);
  if (aliasProblem !== undefined) f(aliasProblem, 'alias');
  const spec: ModelVersionSpec = { model: o.model, alias };
  return { model_version: spec };
}
