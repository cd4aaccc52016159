// A plain-JS job for the Prometheus adapter's push test: one query, one module metric, exit 0.
export default {
  kind: 'platform-host.module',
  interfaces: ['logging', 'metrics', 'database'],
  async run(ctx) {
    await ctx.db.fetchAll('SELECT 1 AS one');
    ctx.metrics.counter({ name: 'probe_rows_total', help: 'Rows the probe job handled.' }).inc({}, 7);
    return 0;
  },
};
