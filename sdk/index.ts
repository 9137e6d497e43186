/**
 * The public authoring API (`import { dag } from 'updraft'`). Named re-exports only.
 */
export { dag, isDagDefinition } from './dag.js';
export type { DagBuilder, DagDefinition, Task, TaskFunction, TaskRef, CallArgs } from './dag.js';
export type { TaskContext, TaskLogger } from './context.js';
export type { DagOptions, TaskOptions, ProcessTaskOptions, ContainerTaskOptions, ResourceOptions, MountOptions, TaskDefaults, AssetLike } from './options.js';
export type { XComArg, Bindable } from './xcom-arg.js';
export type { Duration } from './duration.js';
export type { DagSpec, TaskSpec, Json, VersionedDagSpec } from './spec.js';
export { DagDefinitionError, SkipTask, FailTask } from './errors.js';
export { TriggerRule } from './trigger-rule.js';
export { TaskInstanceState, DagRunState, DagRunType } from './states.js';
export { compileDag } from './compile.js';
export { Param, param } from './params.js';
export type { ParamOptions, ParamSchema, ParamSpec } from './params.js';
export type { TaskGroup, ChainNode, BranchResult } from './dag.js';
export type { Callback, Callbacks, DefaultArgs, ShortCircuitOptions, TaskGroupOptions, TeardownOptions } from './options.js';
export type { CallbackContext } from './callbacks.js';
export { BranchError } from './control-flow.js';
export type { SensorOptions, SensorMode, SensorResult, SensorFunction, FileSensorOptions, ExternalTaskSensorOptions, ProcessSensorOptions, SensorSpec } from './sensors.js';
