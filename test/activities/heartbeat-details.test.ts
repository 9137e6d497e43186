/**
 * runTask's heartbeat details: the task, its instance and try next to the executor's handle, and
 * the handle read back from either shape (a worker from before the change heartbeated the bare
 * handle, and a try it ran may be retried by a new worker after a crash).
 */
import { expect } from 'chai';
import { handleFromHeartbeat, tryHeartbeat } from '../../activities/heartbeat-details.js';
import type { RunTaskRequest } from '../../workflows/types.js';

const handle = { executor: 'process', id: '4242', pgid: 4242, startTime: '123' };

describe('runTask heartbeat details', () => {
  const req = {
    dagId: 'd',
    runId: 'r',
    task: { task_id: 'train' },
    mapIndex: 3,
    tryNumber: 2,
  } as unknown as RunTaskRequest;

  it('name the task, map index and try, with the handle (null before the work started)', () => {
    expect(tryHeartbeat(req, handle)).to.deep.equal({
      dag_id: 'd',
      run_id: 'r',
      task_id: 'train',
      map_index: 3,
      try_number: 2,
      handle,
    });
    expect(tryHeartbeat(req, undefined).handle).to.equal(null);
  });

  it('give the handle back from the new shape and from the old bare handle', () => {
    expect(handleFromHeartbeat(tryHeartbeat(req, handle))).to.deep.equal(handle);
    expect(handleFromHeartbeat(handle)).to.deep.equal(handle);
  });

  it('give no handle for a try that had not started its work, or for anything else', () => {
    expect(handleFromHeartbeat(tryHeartbeat(req, undefined))).to.equal(undefined);
    for (const junk of [
      undefined,
      null,
      'x',
      42,
      [handle],
      {},
      { executor: 'process' },
      { task_id: 't', try_number: 1, handle: { id: 1 } },
    ]) {
      expect(handleFromHeartbeat(junk), JSON.stringify(junk)).to.equal(undefined);
    }
  });
});
