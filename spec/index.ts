/**
 * The wire format shared by the compiler, the workflows, the record and the API: `DagSpec` and the
 * JSON types, task and run states, trigger-rule names, callback names. A leaf: it imports nothing.
 */
export * from './dag-spec.js';
export * from './states.js';
export * from './trigger-rule.js';
export * from './callbacks.js';
