import { defineModule } from '@platform-host/contracts';
import { run } from './main.js';

/**
 * data_quality (seed 17.4, issue 14): declarative checks on warehouse tables from a YAML checks
 * file, one aggregate scan per table, every result appended to `dq_check_results`. Exit 0 passed,
 * 1 a check failed, 2 invalid checks file or arguments, 3 a check could not be evaluated.
 */
export default defineModule({ interfaces: ['database', 'logging', 'metrics'], run });

export { runDataQuality, type DataQualityContext, type DataQualityOptions, type DataQualityOutcome } from './main.js';
export { parseChecksFile, formatProblem, type ChecksFile, type CheckSpec, type TableChecks } from './checks-file.js';
export { checksFileSchema, checksJsonSchema, CHECK_TYPES, type CheckType } from './checks-schema.js';
export { parseThreshold, thresholdMet, formatDuration, type Threshold } from './thresholds.js';
export { planScan, duplicatesSql, customSql } from './scan-plan.js';
export { DQ_EXIT, type DataQualityReport, type CheckReport } from './report.js';
export { HISTORY_TABLE } from './history.js';
