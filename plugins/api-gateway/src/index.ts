import { defineModule } from '@platform-host/contracts';
import { GATEWAY_INTERFACES, run } from './main.js';

/**
 * api_gateway (seed 17.3, issue 13): a REST API over the warehouse tables with cache-aside
 * through `ctx.cache`, and the ingestion endpoint `POST /v1/events` publishing to a topic.
 */
export default defineModule({ interfaces: GATEWAY_INTERFACES, run });

export { buildGateway, type Gateway, type GatewayDependencies } from './app.js';
export { declareGatewayMetrics, GATEWAY_METRIC_NAMES, type GatewayMetrics } from './gateway-metrics.js';
export { readSettings, type GatewaySettings } from './settings.js';
export { platformEventSchema, validateIngestBody, MAX_EVENTS_PER_REQUEST } from './event-schema.js';
export { ProblemError, PROBLEM_CONTENT_TYPE, type ProblemDocument, type InputProblem } from './problem.js';
