const { Runtime, DefaultLogger } = require('@temporalio/worker');
Runtime.install({ logger: new DefaultLogger('ERROR') });
const h = require('./dist/test/workflows/helpers.js');
const { stopTestTemporal } = require('./dist/test/helpers/servers.js');
(async () => {
  const stack = await require('./dist/test/helpers/stack.js').startTestStack({ dagsFolder: h.ENGINE_DAGS, db: 'postgres' });
  const t = await h.startRun(stack, 'wf_dagrun_timeout');
  const r = await h.finishRun(stack, t);
  console.log(h.statesOf(r.tis), r.tis.get('long').error);
  await new Promise((res) => setTimeout(res, 2000));
  const r2 = await h.readRun(stack, 'wf_dagrun_timeout', t.runId);
  console.log(h.statesOf(r2.tis), r2.tis.get('long').error, r2.tis.get('long').updated_at, r2.run.end_date);
  const hist = await t.handle.fetchHistory();
  for (const e of hist.events) console.log(e.eventId.toString(), e.eventTime.seconds.toString(), e.eventTime.nanos, e.eventType, e.activityTaskScheduledEventAttributes?.activityType?.name ?? '', e.markerRecordedEventAttributes ? 'marker' : '');
  await stack.stop(); await stopTestTemporal();
})();
