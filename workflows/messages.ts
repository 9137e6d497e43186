/**
 * Messages a DAG-run workflow accepts. Kept apart from the interpreter so clients import only the
 * definitions (plain names), not the workflow code.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ActionResult, OperatorAction } from '../engine/operator-actions.js';
import type { TaskStatesView } from './types.js';

/**
 * Operator action on a run in flight (clear, mark tasks, mark the run). The validator refuses an
 * unknown task id or state, and a run that is already finishing (the caller then re-opens it).
 */
export const operatorActionUpdate = defineUpdate<ActionResult, [OperatorAction]>('operatorAction');

/** The validator's message when the run is finishing: the action must go to a re-opened run. */
export const RUN_FINISHING = 'the run is finishing';

/**
 * Every task's state (skipped and upstream_failed included, mapped instances summarised), from the
 * workflow's own record: the Temporal UI's Queries tab, `temporal workflow query --name taskStates`.
 */
export const taskStatesQuery = defineQuery<TaskStatesView>('taskStates');

/**
 * A queued run may be able to start now (a run of its DAG finished, the DAG was unpaused): it asks
 * for admission again at once instead of at its next periodic check.
 */
export const admissionWakeSignal = defineSignal('admissionWake');
