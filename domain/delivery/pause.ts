/**
 * Pausing delivery: an operator's switch, the setting `delivery.paused` (JSON `true` / `false`) in the `settings`
 * table, with who set it (`updated_by`) and when (`updated_at`). While it is `true` the delivery stage
 * ({@link sendPending} in send.ts) claims and sends nothing and says so in its result; emails stay `pending` and
 * go out on the first run after it is set back to `false`. Read through SQL on every batch, so a pause set from
 * Slack or the CLI applies to the running pipeline before its next batch.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { getSettingEntry, setSetting } from '../settings.js';

/** The setting key of the pause switch. */
export const DELIVERY_PAUSED_SETTING = 'delivery.paused';

/** The switch as stored. `by` / `since`: who last changed it and when (absent when it was never set). */
export interface DeliveryPause {
  paused: boolean;
  by?: string;
  since?: Date;
}

/** Reads the switch; a missing or non-boolean value counts as not paused. Driver errors propagate. */
export async function deliveryPause(em: EntityManager): Promise<DeliveryPause> {
  const e = await getSettingEntry<unknown>(em, DELIVERY_PAUSED_SETTING);
  if (!e) return { paused: false };
  return { paused: e.value === true, by: e.updatedBy, since: e.updatedAt };
}

/**
 * Sets the switch (`paused` true pauses, false resumes), recording `by` (e.g. `slack:U123`) and `now`.
 * Returns the previous state.
 * @throws TypeError for an empty `by`; driver errors as thrown.
 */
export async function setDeliveryPaused(em: EntityManager, paused: boolean, by: string, now: Date): Promise<DeliveryPause> {
  const before = await deliveryPause(em);
  await setSetting(em, DELIVERY_PAUSED_SETTING, paused, by, now);
  return before;
}
