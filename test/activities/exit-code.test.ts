/**
 * The exit-code mapping the process, Docker and Kubernetes executors share (their own suites check
 * each executor's wording end to end; this pins the meaning of each code in one place).
 */
import { expect } from 'chai';
import { exitCodeFailure, exitFailureKind } from '../../activities/executors/exit-code.js';
import { FAIL_EXIT_CODE, SKIP_EXIT_CODE, TaskExecutionError } from '../../activities/executors/types.js';

describe('executor exit codes', () => {
  it('keeps the documented codes: 99 skips, 98 fails without retries (docs/tasks.md)', () => {
    expect([SKIP_EXIT_CODE, FAIL_EXIT_CODE]).to.deep.equal([99, 98]);
  });

  it('0 is success: no error, and the wording is never asked for', () => {
    expect(exitCodeFailure(0, ['out'], () => expect.fail('describe called for exit code 0'))).to.equal(null);
  });

  for (const [code, kind] of [
    [99, 'skip'],
    [98, 'fail'],
    [1, 'exit'],
    [3, 'exit'],
    [97, 'exit'],
    [100, 'exit'],
    [137, 'exit'],
    [255, 'exit'],
  ] as const) {
    it(`exit code ${code} ends the try as '${kind}', worded by the executor, with the code and last lines kept`, () => {
      expect(exitFailureKind(code)).to.equal(kind);
      const asked: string[] = [];
      const err = exitCodeFailure(code, ['a', 'b'], (k) => {
        asked.push(k);
        return `ran and got ${code} (${k})`;
      });
      expect(err).to.be.instanceOf(TaskExecutionError);
      expect(asked).to.deep.equal([kind]);
      expect({
        message: err!.message,
        kind: err!.kind,
        exitCode: err!.exitCode,
        lastLines: err!.lastLines,
      }).to.deep.equal({
        message: `ran and got ${code} (${kind})`,
        kind,
        exitCode: code,
        lastLines: ['a', 'b'],
      });
    });
  }
});
