/**
 * The incident paging policy: which incident severity a firing alert declares, the escalation ladder's levels and
 * who each level pages (alerts/incidents.ts's module comment describes the ladder).
 */
import type { AlertSeverity, IncidentSeverity } from '../../db/entities/alerting.entity.js';
import type { AppConfig } from '../../domain/config.js';

/** Highest escalation level (emergency). */
export const MAX_LEVEL = 4;

/** Level names (troubleshooting guide's escalation procedures). */
export const LEVEL_NAMES: Readonly<Record<number, string>> = {
  1: 'Level 1 — self-service (on-call)',
  2: 'Level 2 — team',
  3: 'Level 3 — vendor',
  4: 'Level 4 — emergency',
};

/** Incident severity the policy declares for a firing alert of `alertSeverity` (`config.alerting.incidentFor`); undefined = none. */
export function incidentSeverityFor(alertSeverity: AlertSeverity, config: AppConfig): IncidentSeverity | undefined {
  if (alertSeverity === 'critical') return config.alerting.incidentFor.critical;
  if (alertSeverity === 'warning') return config.alerting.incidentFor.warning;
  return undefined;
}

/** Who a level pages: formatted mentions, the user ids to DM, and (Level 3) the vendor contact text. */
export interface PagePlan {
  level: number;
  /** `<@U…>` / `<!subteam^S…>` strings. */
  mentions: string[];
  /** User ids (U…/W…) to DM. */
  dms: string[];
  vendor?: string;
  /** Who is on call on each layer when paged (alerts/paging/plan.ts); shown on the page. */
  oncall?: { primary: string | null; secondary: string | null };
}

/** The page plan of `level` for an incident of `provider` (see the module comment for the ladder). */
export function pagePlan(level: number, config: AppConfig, provider: string | null): PagePlan {
  const c = config.alerting.contacts;
  const ids = level <= 1 ? c.level1 : level === 4 ? c.level4 : c.level2;
  const mentions = ids.map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`));
  const dms = ids.filter((id) => /^[UW]/.test(id));
  if (level !== 3) return { level, mentions, dms };
  const vendor = provider
    ? (config.alerting.vendorContacts[provider] ?? `no vendor contact configured for ${provider}`)
    : 'no failing provider recorded on this incident';
  return { level, mentions, dms, vendor };
}
