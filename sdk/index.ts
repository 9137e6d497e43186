/**
 * The public authoring API (`import { dag } from 'updraft'`). Named re-exports only.
 */
export { dag, isDagDefinition } from './dag.js';
export type { DagBuilder, DagDefinition } from './dag.js';
export type { Task, TaskFunction, CallArgs } from './task.js';
export type {
  ArtifactRef,
  ArtifactRefBody,
  LogArtifactOptions,
  ParamValue,
  TaskContext,
  TaskLogger,
} from './context.js';
export type {
  DagOptions,
  TaskOptions,
  ProcessTaskOptions,
  ContainerTaskOptions,
  ResourceOptions,
  MountOptions,
  TaskDefaults,
  AssetLike,
} from './options.js';
export type { XComArg, Bindable, TaskRef } from './xcom-arg.js';
export type { Duration } from './duration.js';
export type { DagSpec, TaskSpec, Json, VersionedDagSpec } from '../spec/dag-spec.js';
export { DagDefinitionError, SkipTask, FailTask } from './errors.js';
export { TriggerRule } from '../spec/trigger-rule.js';
export { TaskInstanceState, DagRunState, DagRunType } from '../spec/states.js';
export { compileDag } from './compile.js';
export { Param, param } from './params.js';
export type { ParamOptions } from './params.js';
export type { ParamSchema, ParamSpec } from '../spec/dag-spec.js';
export type { TaskGroup, ChainNode, BranchResult } from './dag.js';
export type {
  Callback,
  Callbacks,
  DefaultArgs,
  ShortCircuitOptions,
  TaskGroupOptions,
  TeardownOptions,
} from './options.js';
export type { CallbackContext } from './callbacks.js';
export { BranchError } from '../engine/control-flow.js';
export type {
  SensorOptions,
  SensorResult,
  SensorFunction,
  FileSensorOptions,
  ExternalTaskSensorOptions,
  ProcessSensorOptions,
} from './sensors.js';
export type { SensorMode, SensorSpec } from '../spec/dag-spec.js';
export {
  CronTriggerTimetable,
  MultipleCronTriggerTimetable,
  CronDataIntervalTimetable,
  DeltaTriggerTimetable,
  DeltaDataIntervalTimetable,
  EventsTimetable,
  AssetAll,
  AssetAny,
} from './timetables.js';
export type {
  Schedule,
  TimetableDefinition,
  AssetCondition,
  CronTriggerOptions,
  EventsTimetableOptions,
} from './timetables.js';
export type { TimetableSpec, AssetConditionSpec } from '../spec/dag-spec.js';
export { Asset, isAsset } from './asset.js';
export type { AssetOptions, AssetWatcherDefinition } from './asset.js';
export type { AssetWatcherSpec } from '../spec/asset-watcher.js';
export type {
  ModelGateOptions,
  ModelGateResult,
  ModelGateFailure,
  MetricThresholdOptions,
  ModelVersionRefJson,
  ArtifactRefJson,
  BaselineMetrics,
} from './model-gate.js';
export type { ModelVersionOptions, ResolvedModelVersion } from './model-version.js';
export type { ModelGateSpec, ModelGateThresholdSpec, ModelVersionSpec } from '../spec/dag-spec.js';
