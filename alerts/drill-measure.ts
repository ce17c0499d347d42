/**
 * A drill's measurements, read from what the system recorded (never from the drill's own calls' outcomes):
 * - detection: the earliest of the provider's breaker opening (`breaker.opened`/`reopened` ops event) and an alert
 *   labelled `provider=<p>` firing (its start; an alert re-opened within the flap window keeps its old start, so then
 *   the first tick that sees it firing), at or after the moment the fault was in force;
 * - diagnosis: the first alert post or edit (Slack outbox) carrying a diagnosis whose root cause names the provider
 *   (the diagnosis stored on the alert when its post was silenced);
 * - the incident the provider's alert opened;
 * - recovery ({@link recoveredAt}): after the clear, a successful (uncached) call to the provider in the ledger and,
 *   when the breaker had opened, the breaker closed again.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ProviderId } from '../domain/config.js';
import {
  breakerClosedSince,
  breakerOpenedSince,
  diagnosisPostsSince,
  firstSuccessSince,
  providerAlertsSince,
  type DrillPatch,
  type DrillRow,
} from '../domain/queries/drills.js';
import { causeNaming } from './drill-report.js';
import type { DrillServices } from './drills.js';

const earliest = (...ds: (Date | undefined)[]) => ds.filter((x): x is Date => x !== undefined).sort((a, b) => a.getTime() - b.getTime())[0];

/** The fields of `d` newly measured now (empty when nothing changed). Reads only. */
export async function measureDrill(em: EntityManager, s: Pick<DrillServices, 'clock'>, d: DrillRow): Promise<DrillPatch> {
  const patch: DrillPatch = {};
  const now = s.clock.now();
  const alerts = await providerAlertsSince(em, d.provider, d.startedAt);
  if (!d.detectedAt) {
    const breaker = await breakerOpenedSince(em, d.provider, d.startedAt);
    const fired = alerts.find((a) => a.status === 'firing' || a.startsAt !== null);
    const alertAt = fired ? (fired.startsAt && fired.startsAt >= d.startedAt ? fired.startsAt : now) : undefined;
    const at = earliest(breaker, alertAt);
    if (at) {
      patch.detectedAt = at;
      patch.detectedBy = breaker && at.getTime() === breaker.getTime() ? 'breaker' : fired!.name;
    }
  }
  const first = alerts[0];
  if (!d.alertFingerprint && first) {
    patch.alertFingerprint = first.fingerprint;
    patch.alertName = first.name;
  }
  const withIncident = alerts.find((a) => a.incidentId !== null);
  if (d.incidentId === null && withIncident) patch.incidentId = withIncident.incidentId;
  if (!d.diagnosedAt) {
    for (const a of alerts) {
      const found = await diagnosedAt(em, a, d);
      if (!found) continue;
      patch.diagnosedAt = found.at;
      patch.rootCause = `${found.cause.id}: ${found.cause.title}`;
      if (!d.alertFingerprint) {
        patch.alertFingerprint = a.fingerprint;
        patch.alertName = a.name;
      }
      break;
    }
  }
  return patch;
}

async function diagnosedAt(
  em: EntityManager,
  a: Awaited<ReturnType<typeof providerAlertsSince>>[number],
  d: DrillRow,
): Promise<{ at: Date; cause: { id: string; title: string } } | undefined> {
  if (a.messageRef) {
    for (const post of await diagnosisPostsSince(em, a.messageRef, d.startedAt)) {
      const cause = causeNaming(post.diagnosis, d.provider);
      if (cause) return { at: post.createdAt, cause };
    }
  }
  // a silenced alert is diagnosed but not posted: the diagnosis's own time
  const cause = causeNaming(a.diagnosis, d.provider);
  const issued = typeof a.diagnosis?.issuedAt === 'string' ? new Date(a.diagnosis.issuedAt) : undefined;
  if (cause && issued && issued >= d.startedAt && !a.messageRef) return { at: issued, cause };
  return undefined;
}

/**
 * When the provider was back after the clear: the later of its first successful call since the clear and, when its
 * breaker opened during the drill, the breaker closing since the clear; undefined while it is not back (the breaker
 * still open or half-open, or no successful call yet).
 */
export async function recoveredAt(em: EntityManager, s: Pick<DrillServices, 'gateway'>, d: DrillRow): Promise<Date | undefined> {
  if (!d.faultClearedAt) return undefined;
  const provider = d.provider as ProviderId;
  const ok = await firstSuccessSince(em, provider, d.faultClearedAt);
  if (!ok) return undefined;
  const breaker = await s.gateway.breaker.snapshot(provider);
  if (breaker.state !== 'closed') return undefined;
  const opened = await breakerOpenedSince(em, provider, d.startedAt);
  const closed = opened ? await breakerClosedSince(em, provider, d.faultClearedAt) : undefined;
  return closed && closed > ok ? closed : ok;
}
