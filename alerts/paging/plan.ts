/**
 * Who a page reaches, from the on-call schedule (domain/oncall/schedule.ts): Level 1 pages the primary on call,
 * Levels 2 and 3 the secondary (Level 3 with the vendor contact), Level 4 the configured emergency contacts. A layer
 * with nobody scheduled at that moment falls back to the configured ids (`ESCALATION_LEVEL1` / `ESCALATION_LEVEL2`),
 * so a team without rotations pages as before. Every plan names who is on call on both layers, which the page
 * (Slack post, DM, email, PagerDuty/Opsgenie details) shows.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OncallLayer } from '../../db/entities/oncall.entity.js';
import { onCallAt } from '../../domain/oncall/schedule.js';

/** The parts of alerts/incident/policy.ts's PagePlan this module fills (kept structural to avoid an import cycle). */
export interface OnCallPlan {
  level: number;
  mentions: string[];
  dms: string[];
  vendor?: string;
  /** Who is on call at the page's time (null = nobody scheduled on that layer). */
  oncall?: Record<OncallLayer, string | null>;
}

/** The layer a level pages (undefined: Level 4, the configured emergency contacts). */
export function layerForLevel(level: number): OncallLayer | undefined {
  if (level <= 1) return 'primary';
  if (level <= 3) return 'secondary';
  return undefined;
}

/**
 * `plan` (built from the configured contacts) with the scheduled on-call person of the level's layer in place of
 * the configured ids, and `oncall` filled in. Reads the schedule at `now`.
 */
export async function withOnCall<P extends OnCallPlan>(em: EntityManager, plan: P, now: Date): Promise<P> {
  const pair = await onCallAt(em, now);
  const oncall = { primary: pair.primary.userId, secondary: pair.secondary.userId };
  const layer = layerForLevel(plan.level);
  const user = layer ? oncall[layer] : null;
  if (!user) return { ...plan, oncall };
  return { ...plan, mentions: [`<@${user}>`], dms: [user], oncall };
}

/** "On call: primary <@A>, secondary <@B>" for page texts. */
export function onCallLine(oncall: Record<OncallLayer, string | null> | undefined): string {
  if (!oncall) return '';
  const p = (u: string | null) => (u ? `<@${u}>` : 'nobody scheduled');
  return `On call: primary ${p(oncall.primary)}, secondary ${p(oncall.secondary)}`;
}
