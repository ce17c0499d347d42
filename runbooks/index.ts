/**
 * Every runbook, in the order of the troubleshooting guide. One file each; add a runbook here to expose it to
 * `/lf diagnose`, the CLI, the alert rules and the ops assistant.
 */
import type { RunbookContext } from './context.js';
import type { Runbook } from './define.js';
import { runbook as quickDiagnostics } from './quick-diagnostics.js';
import { runbook as pipelineNotProcessing } from './pipeline-not-processing.js';
import { runbook as emailDelivery } from './email-delivery.js';
import { runbook as assessmentFailures } from './assessment-failures.js';
import { runbook as paymentIssues } from './payment-issues.js';
import { runbook as databasePerformance } from './database-performance.js';
import { runbook as memoryResources } from './memory-resources.js';
import { runbook as externalApis } from './external-apis.js';
import { runbook as backupRecovery } from './backup-recovery.js';
import { runbook as deadLetters } from './dead-letters.js';

/** The runbooks, by the guide's order. */
export const RUNBOOKS: readonly Runbook<RunbookContext>[] = [
  quickDiagnostics,
  pipelineNotProcessing,
  emailDelivery,
  assessmentFailures,
  paymentIssues,
  databasePerformance,
  memoryResources,
  externalApis,
  backupRecovery,
  deadLetters,
];

/** Short names operators type (`/lf diagnose email`), mapped to runbook ids. */
export const RUNBOOK_ALIASES: Readonly<Record<string, string>> = {
  quick: 'quick-diagnostics',
  check: 'quick-diagnostics',
  pipeline: 'pipeline-not-processing',
  email: 'email-delivery',
  emails: 'email-delivery',
  assessment: 'assessment-failures',
  assessments: 'assessment-failures',
  payment: 'payment-issues',
  payments: 'payment-issues',
  purchases: 'payment-issues',
  db: 'database-performance',
  database: 'database-performance',
  memory: 'memory-resources',
  resources: 'memory-resources',
  apis: 'external-apis',
  api: 'external-apis',
  integrations: 'external-apis',
  deadletters: 'dead-letters',
  'dead-letter': 'dead-letters',
  backup: 'backup-recovery',
  backups: 'backup-recovery',
  recovery: 'backup-recovery',
};

/** The runbook for an id or alias (case-insensitive), or undefined. */
export function findRunbook(idOrAlias: string): Runbook<RunbookContext> | undefined {
  const key = idOrAlias.trim().toLowerCase();
  const id = RUNBOOK_ALIASES[key] ?? key;
  return RUNBOOKS.find((r) => r.id === id);
}
