/**
 * A branch whose target comes from conf: a valid target runs that path; an unknown id fails the
 * branch task (BranchError naming the valid ids) and its downstream tasks become upstream_failed.
 */
import { dag } from '../../../../sdk/index.js';

export default dag({ dagId: 'cf_branch', tags: ['test'] }, (d) => {
  const pick = d.branch({ taskId: 'pick' }, (_: void, ctx) => ctx.conf.target as string | null);
  const a = d.task({ taskId: 'a' }, () => 'a ran');
  const b = d.process({ taskId: 'b', argv: ['sh', '-c', 'echo b ran'] });
  const join = d.empty({ taskId: 'join', triggerRule: 'none_failed_min_one_success' });
  d.chain(pick, [a, b], join);
});
