/**
 * The on-call schedule as an iCalendar feed (RFC 5545, built with ical-generator): one event per stretch of each
 * layer ("On call (primary): alice@example.com") from `from` for `days`, with a stable UID per layer, person and
 * start so calendar clients update events in place when the feed is fetched again. Served at `GET /oncall.ics`
 * (bot/webhooks/oncall-ical.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import ical, { ICalCalendarMethod } from 'ical-generator';
import { contactEmails } from '../queries/oncall.js';
import { scheduleBetween } from './schedule.js';

/** Feed options: the window starts at `from` (default now) and covers `days` (default 30, at most 180). */
export interface FeedOptions {
  from: Date;
  days?: number;
  /** Calendar name shown by clients. */
  name?: string;
}

/** The feed as iCalendar text (`text/calendar`). Segments with nobody scheduled are left out. */
export async function oncallCalendar(em: EntityManager, opts: FeedOptions): Promise<string> {
  const days = Math.min(Math.max(opts.days ?? 30, 1), 180);
  const to = new Date(opts.from.getTime() + days * 86_400_000);
  // from a fixed point (UTC midnight a week back) so a stretch keeps its start, and its UID, from fetch to fetch
  const origin = new Date(Math.floor(opts.from.getTime() / 86_400_000) * 86_400_000 - 7 * 86_400_000);
  const segments = (await scheduleBetween(em, origin, to)).segments.filter((s) => s.end.getTime() > opts.from.getTime());
  const people = [...new Set(segments.map((s) => s.userId).filter((u): u is string => !!u))];
  const emails = await contactEmails(em, people);
  const cal = ical({ name: opts.name ?? 'LeadFactory on-call', prodId: { company: 'LeadFactory', product: 'ops', language: 'EN' }, method: ICalCalendarMethod.PUBLISH, ttl: 15 * 60 });
  for (const s of segments) {
    if (!s.userId) continue;
    const who = emails[s.userId] ?? s.userId;
    cal.createEvent({
      id: `oncall-${s.layer}-${s.userId}-${s.start.toISOString()}@leadfactory`,
      start: s.start,
      end: s.end,
      stamp: opts.from,
      summary: `On call (${s.layer}): ${who}`,
      description: `Slack user ${s.userId}; ${s.source.startsWith('override:') ? `override #${s.source.slice(9)}` : s.source.replace(/^rotation:/, 'rotation ')}. Level ${s.layer === 'primary' ? '1' : '2-3'} pages go to this person.`,
    });
  }
  return cal.toString();
}
