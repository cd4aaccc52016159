import { defineModule } from '@platform-host/contracts';
import { run } from './main.js';

/**
 * batch_etl (seed section 6): reads the raw JSON Lines partition `{source-path}/{date}/`,
 * validates, transforms and deduplicates the events, and loads them idempotently into the
 * target table.
 */
export default defineModule({ interfaces: ['database', 'filesystem', 'logging'], run });

export {
  runBatchEtl,
  type BatchEtlReport,
  type BatchEtlOutcome,
  type BatchEtlOptions,
  type BatchEtlContext,
} from './main.js';
export {
  validateEvents,
  validateSingleEvent,
  INVALID_REASONS,
  type InvalidReason,
  type ValidEvent,
  type ValidationResult,
} from './validator.js';
export {
  transformEvents,
  transformEvent,
  normalizeEventType,
  ensurePayloadDict,
  computeDedupKey,
  type CleanedEvent,
} from './transformer.js';
export { canonicalJson, parseJsonExact } from './canonical-json.js';
