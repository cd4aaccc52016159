import { defineAdapter } from '@platform-host/contracts';
import { NoopMetrics } from './noop-metrics.js';

export { NoopMetrics } from './noop-metrics.js';

/** `--metrics noop`: metrics are validated and discarded. */
export default defineAdapter({
  interface: 'metrics',
  create: () => new NoopMetrics(),
});
