/**
 * `--wait` (cli/watch-run.ts) against a real database: on a terminal one progress line redrawn in
 * place and the full table only at the end; piped, one line per change; mapped instances as
 * `task[i]` in both.
 */
import { expect } from 'chai';
import { updateDagRunState } from '../../db/dag-run.repository.js';
import { upsertTaskInstances } from '../../db/task-instance.repository.js';
import { watchRun } from '../../cli/watch-run.js';
import { openMigratedDatabase, seedRun, type TestDatabase } from '../db/test-database.js';

describe('--wait: following a run', function () {
  let t: TestDatabase;
  before(async function () {
    t = await openMigratedDatabase('postgres');
  });
  after(async function () {
    await t?.cleanup();
  });

  /** Plays a run forward while watchRun follows it; returns what it printed and its answer. */
  async function follow(runId: string, live: boolean): Promise<{ text: string; state: string }> {
    await seedRun(t.db, 'd', runId);
    const ti = (task_id: string, map_index: number, state: string) => ({
      dag_id: 'd',
      run_id: runId,
      task_id,
      map_index,
      state: state as never,
      try_number: state === 'none' ? 0 : 1,
    });
    await upsertTaskInstances(t.db, [
      ti('fetch', -1, 'success'),
      ti('train', 0, 'running'),
      ti('train', 1, 'running'),
      ti('train', 2, 'running'),
      ti('report', -1, 'none'),
    ]);
    let text = '';
    const out = { write: (s: string) => (text += s), columns: 200 };
    const watching = watchRun(t.db, 'd', runId, { format: 'table', live, pollMs: 20, out });
    const seen = async (part: string): Promise<void> => {
      for (let i = 0; i < 500 && !text.includes(part); i++) await new Promise((r) => setTimeout(r, 10));
      expect(text, `waiting for ${part}`).to.contain(part);
    };
    await seen(live ? 'running: train[0], train[1], train[2]' : 'train[2] running');
    await upsertTaskInstances(t.db, [ti('train', 0, 'success'), ti('train', 1, 'failed')]);
    await seen(live ? 'failed: train[1]' : 'train[1] failed');
    await upsertTaskInstances(t.db, [ti('train', 2, 'success'), ti('report', -1, 'upstream_failed')]);
    await updateDagRunState(t.db, 'd', runId, 'failed', {
      end_date: new Date(),
      last_error: '1 leaf task(s) failed: report (upstream_failed)',
    });
    const state = await watching;
    return { text, state };
  }

  it('on a terminal: one line updated in place, the table once at the end', async function () {
    const { text, state } = await follow('live', true);
    expect(state).to.equal('failed');
    const [progress, end] = [text.slice(0, text.lastIndexOf('\r\x1b[K')), text.slice(text.lastIndexOf('\r\x1b[K'))];
    // Every redraw returns to the line's start and clears it; nothing scrolls until the end.
    expect(
      progress
        .split('\r\x1b[K')
        .filter((l) => l !== '')
        .every((l) => !l.includes('\n')),
    ).to.equal(true);
    expect(progress).to.contain('run live: running · 1/5 done (1 success) · running: train[0], train[1], train[2]');
    expect(progress).to.contain('3/5 done (1 failed, 2 success) · running: train[2] · failed: train[1]');
    expect(end.match(/task_id\s+\| state/g)).to.have.length(1);
    expect(end).to.match(/train\[1\]\s+\| failed\s+\| 1/);
    expect(end).to.match(/report\s+\| upstream_failed/);
    expect(end).to.contain('DAG run d / live: failed (1 leaf task(s) failed: report (upstream_failed))');
  });

  it('piped: a line per change, each once, then the table', async function () {
    const { text, state } = await follow('piped', false);
    expect(state).to.equal('failed');
    expect(text).to.not.contain('\r');
    const changes = text
      .split('\n')
      .filter((l) => /^\d{4}-\d\d-\d\dT/.test(l))
      .map((l) => l.replace(/^\S+ /, ''));
    for (const line of [
      'fetch success',
      'train[0] running',
      'train[1] running',
      'train[1] failed',
      'train[2] success',
      'report upstream_failed',
    ]) {
      expect(
        changes.filter((c) => c === line),
        line,
      ).to.have.length(1);
    }
    expect(text.match(/task_id\s+\| state/g)).to.have.length(1);
  });
});
