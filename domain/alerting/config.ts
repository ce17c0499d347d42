/**
 * Alerting, incident and escalation settings from the environment (merged into the app schema by
 * domain/config.ts). Escalation ladder (troubleshooting guide): Level 1 self-service (on-call), Level 2 team,
 * Level 3 vendor (the failing provider's support contact), Level 4 emergency. Acknowledgement deadlines per
 * severity: SEV1 15 min, SEV2 1 h, SEV3 4 h, SEV4 24 h.
 */
import { z } from 'zod';
import type { IncidentSeverity } from '../../db/entities/alerting.entity.js';
import { PROVIDERS_LIST } from './providers.js';

const opt = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
/** Slack ids to mention/DM (users U…/W…, user groups S…), comma- or space-separated. */
const ids = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(/[\s,]+/).filter(Boolean))
  .refine((list) => list.every((id) => /^[UWS][A-Z0-9]{2,}$/.test(id)), { message: 'expected Slack user (U…/W…) or user-group (S…) ids' });
const severity = z.enum(['SEV1', 'SEV2', 'SEV3', 'SEV4', 'none']);

/** Environment keys. */
export const AlertingEnvSchema = z.object({
  SLACK_ALERTS_CHANNEL: z.string().default('#leadfactory-alerts'),
  SLACK_INCIDENTS_CHANNEL: z.string().default('#leadfactory-incidents'),
  /** Bearer token Alertmanager sends (webhook_config http_config authorization credentials). */
  ALERTMANAGER_TOKEN: opt,
  /**
   * Who evaluates the alert rules: `internal` (in-process, every ALERT_EVAL_INTERVAL_SECONDS), `alertmanager`
   * (Prometheus + Alertmanager posting to /alerts/alertmanager; no in-process evaluation) or `both` (one post and
   * one incident per alert group, whichever reports first). Default: `both` when ALERTMANAGER_TOKEN is set, else
   * `internal`.
   */
  ALERT_SOURCE: z.enum(['internal', 'alertmanager', 'both']).optional(),
  ALERT_EVAL_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
  /** A resolved alert firing again within this many minutes is a flap of the same episode (one message). */
  ALERT_FLAP_WINDOW_MINUTES: z.coerce.number().int().min(0).max(24 * 60).default(30),
  /** Incident severity declared automatically for a firing alert of each alert severity (`none` = no incident). */
  INCIDENT_FOR_CRITICAL: severity.default('SEV2'),
  INCIDENT_FOR_WARNING: severity.default('none'),
  ESCALATION_LEVEL1: ids,
  ESCALATION_LEVEL2: ids,
  ESCALATION_LEVEL4: ids,
  VENDOR_CONTACT_YELP: z.string().default('Yelp Fusion support: https://docs.developer.yelp.com/docs/contact'),
  VENDOR_CONTACT_PAGESPEED: z.string().default('Google PageSpeed Insights: https://developers.google.com/speed/docs/insights/v5/support'),
  VENDOR_CONTACT_OPENAI: z.string().default('OpenAI support: https://help.openai.com (status: https://status.openai.com)'),
  VENDOR_CONTACT_SENDGRID: z.string().default('Twilio SendGrid support: https://support.sendgrid.com (status: https://status.sendgrid.com)'),
  VENDOR_CONTACT_STRIPE: z.string().default('Stripe support: https://support.stripe.com (status: https://status.stripe.com)'),
});

/** Acknowledgement deadline per incident severity (ms). */
export const ACK_DEADLINE_MS: Readonly<Record<IncidentSeverity, number>> = {
  SEV1: 15 * 60_000,
  SEV2: 60 * 60_000,
  SEV3: 4 * 60 * 60_000,
  SEV4: 24 * 60 * 60_000,
};

/** Who evaluates the alert rules: in-process, Prometheus/Alertmanager, or both merged into one alert path. */
export type AlertSource = 'internal' | 'alertmanager' | 'both';

/** Alerting configuration. Durations in ms. */
export interface AlertingConfig {
  alertsChannel: string;
  incidentsChannel: string;
  alertmanagerToken: string | undefined;
  /** Who evaluates the rules (ALERT_SOURCE, defaulted): see {@link AlertSource}. */
  source: AlertSource;
  evalIntervalMs: number;
  flapWindowMs: number;
  incidentFor: { critical: IncidentSeverity | undefined; warning: IncidentSeverity | undefined };
  /** Slack ids to page per level (Level 3 pages Level 2's ids plus the vendor contact text). */
  contacts: { level1: string[]; level2: string[]; level4: string[] };
  vendorContacts: Record<string, string>;
}

/** Builds {@link AlertingConfig}. */
export function buildAlertingConfig(e: z.infer<typeof AlertingEnvSchema>): AlertingConfig {
  const sev = (v: z.infer<typeof severity>) => (v === 'none' ? undefined : v);
  return {
    alertsChannel: e.SLACK_ALERTS_CHANNEL,
    incidentsChannel: e.SLACK_INCIDENTS_CHANNEL,
    alertmanagerToken: e.ALERTMANAGER_TOKEN,
    source: e.ALERT_SOURCE ?? (e.ALERTMANAGER_TOKEN ? 'both' : 'internal'),
    evalIntervalMs: e.ALERT_EVAL_INTERVAL_SECONDS * 1000,
    flapWindowMs: e.ALERT_FLAP_WINDOW_MINUTES * 60_000,
    incidentFor: { critical: sev(e.INCIDENT_FOR_CRITICAL), warning: sev(e.INCIDENT_FOR_WARNING) },
    contacts: { level1: e.ESCALATION_LEVEL1, level2: e.ESCALATION_LEVEL2, level4: e.ESCALATION_LEVEL4 },
    vendorContacts: Object.fromEntries(
      PROVIDERS_LIST.map((p) => [p, e[`VENDOR_CONTACT_${p.toUpperCase()}` as keyof typeof e] as string]),
    ),
  };
}
