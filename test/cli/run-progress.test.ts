/** The progress line `--wait` shows on a terminal, and mapped instances' labels. */
import { expect } from 'chai';
import { fitWidth, instanceLabel, progressLine } from '../../cli/run-progress.js';

describe('--wait progress line', () => {
  it('labels mapped instances task[i]', () => {
    expect(instanceLabel({ task_id: 'train', map_index: 3 })).to.equal('train[3]');
    expect(instanceLabel({ task_id: 'train', map_index: -1 })).to.equal('train');
  });

  it('says how many instances are done of how many, what runs and what failed', () => {
    const rows = [
      { task_id: 'fetch', map_index: -1, state: 'success' },
      ...[0, 1, 2, 3, 4].map((i) => ({
        task_id: 'train',
        map_index: i,
        state: i === 1 ? 'failed' : i < 1 ? 'success' : 'running',
      })),
      { task_id: 'report', map_index: -1, state: null },
      { task_id: 'skipper', map_index: -1, state: 'skipped' },
    ];
    expect(progressLine('r1', 'running', rows, 62)).to.equal(
      'run r1: running · 4/8 done (1 failed, 1 skipped, 2 success) · running: train[2], train[3], train[4] · failed: train[1] · 1m 2s',
    );
    const more = [0, 1, 2, 3, 4].map((i) => ({ task_id: 't', map_index: i, state: 'running' }));
    expect(progressLine('r1', 'running', more, 5)).to.equal(
      'run r1: running · 0/5 done · running: t[0], t[1], t[2] +2 more · 5s',
    );
    expect(progressLine('r1', 'queued', [], 0)).to.equal('run r1: queued · 0/0 done · 0s');
  });

  it('fits a terminal width without wrapping', () => {
    const line = 'x'.repeat(100);
    expect(fitWidth(line, 40)).to.have.length(39);
    expect(fitWidth(line, 40).endsWith('…')).to.equal(true);
    expect(fitWidth('short', 40)).to.equal('short');
    expect(fitWidth(line, undefined)).to.equal(line);
  });
});
