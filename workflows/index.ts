/** Workflow entry point: Worker.workflowsPath points at the compiled form of this file. */
export { dagRun } from './dag-run/index.js';
export { scheduleTick } from './schedule-tick.js';
