/**
 * Hand-off posts: when the person on call changes on a layer (a rotation's hand-off, an override starting or
 * ending), one post in the on-call channel (`ONCALL_CHANNEL`, default the incidents channel) names who takes over,
 * from whom, and until when, and the incoming person gets a DM. Run by every escalation pass
 * (jobs/escalation-ticker.ts, every 30 s); the outbox dedup key (layer, start, person) makes it one post per
 * hand-off however many passes or replicas see it. A hand-off older than {@link HANDOFF_WINDOW_MS} is not announced
 * (a service that was down for a day does not post yesterday's).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { ONCALL_LAYERS } from '../../db/entities/oncall.entity.js';
import type { AppConfig } from '../../domain/config.js';
import { onCallAt } from '../../domain/oncall/schedule.js';
import { whoAt } from '../../domain/oncall/timeline.js';
import { activeRotations, overridesBetween } from '../../domain/queries/oncall.js';
import { enqueueSlack } from '../slack-outbox.js';

/** Hand-offs older than this (ms) are not posted. */
export const HANDOFF_WINDOW_MS = 15 * 60_000;

const utc = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Enqueues the posts of the hand-offs of the last {@link HANDOFF_WINDOW_MS}; returns the dedup keys added. */
export async function postHandoffs(em: EntityManager, config: AppConfig, now: Date): Promise<string[]> {
  const pair = await onCallAt(em, now);
  const channel = config.oncall.channel ?? config.alerting.incidentsChannel;
  const added: string[] = [];
  for (const layer of ONCALL_LAYERS) {
    const cur = pair[layer];
    if (!cur.userId || now.getTime() - cur.since.getTime() > HANDOFF_WINDOW_MS) continue;
    const before = new Date(cur.since.getTime() - 1);
    const [rotations, overrides] = await Promise.all([activeRotations(em), overridesBetween(em, before, cur.since)]);
    const prev = whoAt(rotations, overrides, layer, before).userId;
    if (prev === cur.userId) continue;
    const level = layer === 'primary' ? 'Level 1' : 'Levels 2-3';
    const until = cur.until ? ` until ${utc(cur.until)}` : '';
    const key = `oncall:handoff:${layer}:${cur.since.toISOString()}:${cur.userId}`;
    const text = `:pager: On-call hand-off (${layer}, ${level} pages): <@${cur.userId}> is on call from ${utc(cur.since)}${until}${prev ? `, taking over from <@${prev}>` : ''}.`;
    if (await enqueueSlack(em, { dedupKey: key, kind: 'post', channel, text }, now)) added.push(key);
    await enqueueSlack(em, { dedupKey: `${key}:dm`, kind: 'dm', channel: cur.userId, text: `:pager: You are on call (${layer}, ${level} pages) from ${utc(cur.since)}${until}.` }, now);
  }
  return added;
}
