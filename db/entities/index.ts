/** The explicit entity list given to MikroORM (no discovery by glob). */
import { AssessmentResult } from './assessment-result.entity.js';
import { Business } from './business.entity.js';
import { EmailEvent, EmailSuppression, WebhookInbox } from './delivery.entity.js';
import { Email } from './email.entity.js';
import { Purchase, ReportLinkClick } from './purchase.entity.js';
import { ApiCall, ProviderCache, ProviderQuotaUsage, RateLimitState, Setting } from './gateway.entity.js';
import { JobRun, JobTick } from './job-run.entity.js';
import { OpsEvent } from './ops-event.entity.js';
import { AuditLog, ErrorRecord, RemediationClaim } from './ops-audit.entity.js';
import { Alert, Incident, IncidentEvent, Silence, SlackMessage, SlackOutbox } from './alerting.entity.js';
import { ProviderState } from './provider-state.entity.js';
import { Target } from './target.entity.js';
import { AssistantAnswerRow } from './assistant.entity.js';
import { DeadLetter } from './dead-letter.entity.js';
import { Deploy } from './deploy.entity.js';
import { OncallContact, OncallOverride, OncallRotation } from './oncall.entity.js';
import { PageDelivery } from './paging.entity.js';
import { Drill, IncidentPostmortem, IncidentRoleAssignment, IncidentRoom } from './incident-response.entity.js';

export { AssessmentResult, Business, Email, JobRun, JobTick, OpsEvent, ProviderState, Target };
export { ApiCall, ProviderCache, ProviderQuotaUsage, RateLimitState, Setting };
export * from './gateway.entity.js';
export { EmailEvent, EmailSuppression, Purchase, WebhookInbox };
export * from './delivery.entity.js';
export * from './purchase.entity.js';
export * from './assessment-result.entity.js';
export * from './business.entity.js';
export * from './email.entity.js';
export * from './job-run.entity.js';
export * from './ops-event.entity.js';
export * from './provider-state.entity.js';
export * from './target.entity.js';
export * from './ops-audit.entity.js';
export { AuditLog, ErrorRecord, RemediationClaim };
export * from './alerting.entity.js';
export * from './assistant.entity.js';
export * from './dead-letter.entity.js';
export * from './oncall.entity.js';
export * from './paging.entity.js';
export * from './deploy.entity.js';
export * from './incident-response.entity.js';
export { Alert, Incident, IncidentEvent, Silence, SlackMessage, SlackOutbox };

export const ENTITIES = [
  Target,
  Business,
  AssessmentResult,
  Email,
  JobRun,
  JobTick,
  OpsEvent,
  ProviderState,
  RateLimitState,
  ProviderQuotaUsage,
  ProviderCache,
  ApiCall,
  Setting,
  EmailSuppression,
  EmailEvent,
  WebhookInbox,
  Purchase,
  AuditLog,
  RemediationClaim,
  ErrorRecord,
  Alert,
  Incident,
  IncidentEvent,
  Silence,
  SlackOutbox,
  SlackMessage,
  AssistantAnswerRow,
  DeadLetter,
  Deploy,
  OncallRotation,
  OncallOverride,
  OncallContact,
  PageDelivery,
  IncidentRoom,
  IncidentRoleAssignment,
  IncidentPostmortem,
  Drill,
  ReportLinkClick,
];

/** The table of every entity in {@link ENTITIES} (its schema's `tableName`), in list order. */
export const ENTITY_TABLES: readonly string[] = Object.freeze(ENTITIES.map((e) => e.meta.tableName));
