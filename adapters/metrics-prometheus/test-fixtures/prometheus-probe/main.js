// A plain-JS service for the Prometheus adapter's end-to-end test: one call through each
// instrumented adapter, then it logs "probe ready" and waits for shutdown.
export default {
  kind: 'platform-host.module',
  interfaces: ['logging', 'metrics', 'database', 'message_queue', 'cache'],
  async run(ctx) {
    await ctx.db.fetchAll('SELECT 1 AS one');
    await ctx.mq.createTopic('probe');
    let received;
    const delivered = new Promise((resolve) => (received = resolve));
    const subscription = await ctx.mq.subscribe(
      'probe',
      async (messages) => {
        await ctx.mq.ack(messages);
        received();
      },
      { group: 'probe-group', startFrom: 'earliest' },
    );
    await ctx.mq.publish('probe', { value: 'hello' });
    await delivered;
    await ctx.cache.set('greeting', 'hello');
    await ctx.cache.get('greeting');
    await ctx.cache.get('absent');
    ctx.log.info('probe ready');
    await new Promise((resolve) => ctx.lifecycle.signal.addEventListener('abort', resolve, { once: true }));
    await subscription.close();
  },
};
