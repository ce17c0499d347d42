/**
 * On-call and paging settings from the environment (merged into the app schema by domain/config.ts): the default
 * time zone of new rotations, where hand-offs are posted, the iCalendar feed's token, and the paging channels
 * beyond Slack — email (SendGrid gateway), PagerDuty Events API v2 and Opsgenie Alert API. A paging provider with
 * no key is answered by the local sandbox outside production (like the pipeline's providers) and is off in
 * production; its webhook secret/token guards the acknowledgements it sends back.
 */
import { z } from 'zod';
import { isValidTimeZone } from './timeline.js';

const opt = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const optUrl = opt.pipe(z.url().optional());

/** Environment keys. */
export const OncallEnvSchema = z.object({
  /** IANA time zone of new rotations when `tz=` is not given (e.g. Europe/Berlin). */
  ONCALL_TIME_ZONE: z
    .string()
    .trim()
    .default('UTC')
    .refine((v) => isValidTimeZone(v), { message: 'expected an IANA time zone such as Europe/Berlin' }),
  /** Channel for hand-off posts; default the incidents channel. */
  ONCALL_CHANNEL: opt,
  /** Token of the iCalendar feed `GET /oncall.ics?token=…` (or `Authorization: Bearer`); unset = feed off (404). */
  ONCALL_ICAL_TOKEN: opt,
  /** Pages also go by email to the paged people's contact addresses (`/lf oncall contact`). */
  PAGE_EMAIL: z.enum(['true', 'false', '1', '0', 'yes', 'no']).default('true').transform((v) => v === 'true' || v === '1' || v === 'yes'),
  /** PagerDuty Events API v2 integration (routing) key, 32 characters; unset = the sandbox (off in production). */
  PAGERDUTY_ROUTING_KEY: opt,
  /** Secret of the PagerDuty v3 webhook subscription (X-PagerDuty-Signature); unset = its acknowledgements refused. */
  PAGERDUTY_WEBHOOK_SECRET: opt,
  /** Events API base URL (default https://events.pagerduty.com, or the sandbox's). */
  PAGERDUTY_EVENTS_URL: optUrl,
  /** Opsgenie API key (an API integration's key; `Authorization: GenieKey …`); unset = the sandbox (off in production). */
  OPSGENIE_API_KEY: opt,
  /** Opsgenie API base URL (default https://api.opsgenie.com; EU accounts https://api.eu.opsgenie.com). */
  OPSGENIE_API_URL: optUrl,
  /** Token the Opsgenie webhook integration sends as a custom header `Authorization: Bearer <token>`; unset = refused. */
  OPSGENIE_WEBHOOK_TOKEN: opt,
});

/** One paging provider: `enabled` (key set, or sandbox outside production), `sandbox` (no key: the sandbox answers). */
export interface PagingProviderConfig {
  key: string | undefined;
  baseUrl: string | undefined;
  sandbox: boolean;
  enabled: boolean;
  /** PagerDuty webhook secret / Opsgenie webhook token. */
  inboundSecret: string | undefined;
}

/** On-call and paging configuration. */
export interface OncallConfig {
  timeZone: string;
  /** Hand-off posts go here (undefined = the incidents channel). */
  channel: string | undefined;
  icalToken: string | undefined;
  email: boolean;
  pagerduty: PagingProviderConfig;
  opsgenie: PagingProviderConfig;
}

/** Builds {@link OncallConfig}. */
export function buildOncallConfig(e: z.infer<typeof OncallEnvSchema>, production: boolean): OncallConfig {
  const provider = (key: string | undefined, baseUrl: string | undefined, inboundSecret: string | undefined): PagingProviderConfig => ({
    key,
    baseUrl,
    sandbox: key === undefined,
    enabled: key !== undefined || !production,
    inboundSecret,
  });
  return {
    timeZone: e.ONCALL_TIME_ZONE,
    channel: e.ONCALL_CHANNEL,
    icalToken: e.ONCALL_ICAL_TOKEN,
    email: e.PAGE_EMAIL,
    pagerduty: provider(e.PAGERDUTY_ROUTING_KEY, e.PAGERDUTY_EVENTS_URL, e.PAGERDUTY_WEBHOOK_SECRET),
    opsgenie: provider(e.OPSGENIE_API_KEY, e.OPSGENIE_API_URL, e.OPSGENIE_WEBHOOK_TOKEN),
  };
}
