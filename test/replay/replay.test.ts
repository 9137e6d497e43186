/// <reference types="mocha" />
/**
 * Determinism: every recorded history in test/replay/histories/ (see record-histories.ts) replays
 * against the current workflow bundle without a DeterminismViolationError. A change to the workflow
 * that would break runs in flight fails here.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowBundle } from '../../worker/worker.js';
import { historyFromJson } from './history-json.js';

const HISTORIES_DIR = path.resolve(__dirname, '../../../test/replay/histories');
const EXPECTED = [
  'admission-queued',
  'admission-wakes',
  'cancel',
  'dagrun-timeout',
  'failed-run',
  'failed-run-timeout',
  'failure',
  'operator-clear-running',
  'operator-reopen',
  'retry',
  'skip',
  'success',
  'xcom-by-reference',
];

function load(name: string): ReturnType<typeof historyFromJson> {
  return historyFromJson(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, `${name}.json`), 'utf8')));
}

describe('replay: recorded DAG-run histories', function () {
  const files = fs
    .readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('has the representative histories', function () {
    expect(files.map((f) => f.replace(/\.json$/, ''))).to.include.members(EXPECTED);
  });

  for (const file of files) {
    const name = file.replace(/\.json$/, '');
    it(`replays ${name} deterministically`, async function () {
      const history = load(name);
      expect(history.events?.length ?? 0).to.be.above(5);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${name}`);
    });
  }

  it('has a run that waited in queued for max_active_runs and was woken by a signal (patch run-admission)', function () {
    const events = load('admission-queued').events ?? [];
    expect(events.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).to.equal(true);
    expect(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'admissionWake')).to.equal(
      true,
    );
    expect(events.some((e) => e.timerStartedEventAttributes)).to.equal(true);
    const woke = load('admission-wakes').events ?? [];
    const signalled = woke.flatMap((e) =>
      e.signalExternalWorkflowExecutionInitiatedEventAttributes
        ? [e.signalExternalWorkflowExecutionInitiatedEventAttributes]
        : [],
    );
    expect(signalled.map((a) => [a.signalName, a.workflowExecution?.workflowId])).to.deep.equal([
      ['admissionWake', 'dag:wf_admission:run:replay_admission_second'],
    ]);
  });

  it('has a failed run that ended as a failed workflow execution (patch failed-run-fails-workflow)', function () {
    const events = load('failed-run').events ?? [];
    expect(events.at(-1)?.workflowExecutionFailedEventAttributes?.failure?.message).to.match(
      /^task "crash" failed: process exited with code 7/,
    );
  });

  it('detects a history the workflow code does not match (the check is live)', async function () {
    const history = load('success');
    const scheduled = history.events!.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runTask',
    );
    expect(scheduled, 'a runTask activity in the success history').to.not.equal(undefined);
    scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'someOtherActivity';
    try {
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'replay-tampered');
    } catch (err) {
      expect(err).to.be.instanceOf(DeterminismViolationError);
      return;
    }
    throw new Error('the tampered history replayed without a DeterminismViolationError');
  });
});
