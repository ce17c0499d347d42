/**
 * On-call schedules on the real database through executeLf (the path `/lf oncall` and `lf oncall` share): a daily
 * 09:00 Europe/Berlin rotation hands off at 09:00 local on both sides of the spring DST change (07:00 UTC after it,
 * 08:00 before), a weekly America/New_York one across the autumn change; an override wins over the rotation and
 * ends on time; `now` and `next`; every change audited, a viewer's change refused (and audited); the iCalendar
 * feed lists the shifts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { executeLf } from '../../bot/commands/execute.js';
import { parseLf } from '../../bot/commands/spec.js';
import { renderOncallText, type OncallResult } from '../../bot/commands/oncall-commands.js';
import type { Database } from '../../db/orm.js';
import { ManualClock } from '../../domain/clock.js';
import { oncallCalendar } from '../../domain/oncall/ical.js';
import { onCallAt } from '../../domain/oncall/schedule.js';
import { layerTimeline, shiftStart, whoAt, type RotationSpec } from '../../domain/oncall/timeline.js';
import type { Services } from '../../domain/services.js';
import { recentAudit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { DB_KIND, freshDatabase, truncateAll } from '../helpers/db.js';
import { runbookContext } from '../helpers/runbooks.js';
import { testServices } from '../helpers/services.js';

type Ctx = { db: Database; services: Services; ctx: RunbookContext; clock: ManualClock };
const test = suite<Ctx>(`on-call schedules (${DB_KIND})`);
const operator: Actor = { id: 'slack:UOPER0001', role: 'operator', source: 'slack', display: '<@UOPER0001>' };
const viewer: Actor = { id: 'slack:UVIEW0001', role: 'viewer', source: 'slack', display: '<@UVIEW0001>' };

test.before(async (c) => {
  c.db = await freshDatabase();
  c.clock = new ManualClock('2026-03-26T12:00:00Z');
  c.services = await testServices(c.db, {}, { clock: c.clock });
  c.ctx = runbookContext(c.services);
});
test.after(async (c) => {
  await c.services?.close();
  await c.db?.close();
});
test.before.each(async (c) => {
  await truncateAll(c.db);
});

const lf = (c: Ctx, text: string, actor: Actor = operator) => executeLf(c.ctx, parseLf(text), actor) as Promise<OncallResult>;
const at = (iso: string) => new Date(iso);

test('a daily 09:00 Europe/Berlin hand-off stays at 09:00 local across the spring DST change', async (c) => {
  const r = await lf(c, 'oncall rotation add berlin daily <@UALICE001|alice> <@UBOB00001|bob> UCARL0001 at=09:00 tz=Europe/Berlin start=2026-03-27');
  assert.is(r.kind, 'oncall_change', JSON.stringify(r));
  const em = c.db.orm.em.fork();
  // Friday 27th and Saturday 28th: CET (UTC+1), 08:00 UTC; Sunday 29th 02:00 → 03:00: CEST (UTC+2), 07:00 UTC
  const who = async (iso: string) => (await onCallAt(em, at(iso))).primary.userId;
  assert.is(await who('2026-03-27T08:00:00Z'), 'UALICE001');
  assert.is(await who('2026-03-28T07:59:00Z'), 'UALICE001');
  assert.is(await who('2026-03-28T08:00:00Z'), 'UBOB00001');
  assert.is(await who('2026-03-29T06:59:00Z'), 'UBOB00001', 'Sunday 08:59 CEST: still Saturday’s shift');
  assert.is(await who('2026-03-29T07:00:00Z'), 'UCARL0001', 'Sunday 09:00 CEST = 07:00 UTC: the hand-off');
  assert.is(await who('2026-03-30T07:00:00Z'), 'UALICE001');
  const now = await onCallAt(em, at('2026-03-28T12:00:00Z'));
  assert.is(now.primary.until?.toISOString(), '2026-03-29T07:00:00.000Z', 'the shift over the change lasts 23 hours');
  assert.is(now.primary.source, 'rotation:berlin');
  assert.is(now.secondary.userId, null, 'no secondary rotation');
  const audits = await recentAudit(em, { action: 'oncall:rotation_add' });
  assert.is(audits.length, 1);
  assert.is(audits[0]!.actor, 'slack:UOPER0001');
});

test('a weekly Monday 09:00 America/New_York rotation across the autumn change (25-hour Sunday)', () => {
  const r: RotationSpec = { id: 1, name: 'ny', layer: 'secondary', handoff: 'weekly', timeZone: 'America/New_York', members: ['UA', 'UB'], startsAt: at('2026-10-26T13:00:00Z') };
  assert.is(shiftStart(r, 1).toISOString(), '2026-11-02T14:00:00.000Z', 'EST after 1 November: 09:00 = 14:00 UTC');
  assert.is(whoAt([r], [], 'secondary', at('2026-11-02T13:30:00Z')).userId, 'UA', '08:30 EST: not yet');
  assert.is(whoAt([r], [], 'secondary', at('2026-11-02T14:00:00Z')).userId, 'UB');
  const segs = layerTimeline([r], [], 'secondary', at('2026-10-26T13:00:00Z'), at('2026-11-09T14:00:00Z'));
  assert.equal(segs.map((s) => [s.userId, s.start.toISOString()]), [['UA', '2026-10-26T13:00:00.000Z'], ['UB', '2026-11-02T14:00:00.000Z']]);
  assert.is(segs[0]!.end.getTime() - segs[0]!.start.getTime(), 7 * 86_400_000 + 3_600_000, 'the week over the change is 169 hours');
});

test('/lf oncall override @user 2h wins over the rotation, ends on time, and can be cancelled', async (c) => {
  await lf(c, 'oncall rotation add main daily UALICE001 UBOB00001 at=09:00 tz=UTC start=2026-03-26T00:00:00Z');
  const before = await lf(c, 'oncall now');
  assert.is(before.kind === 'oncall_now' && before.now.primary.userId, 'UALICE001');
  const ov = await lf(c, 'oncall override <@UDAVE0001|dave> 2h covering the dentist');
  assert.is(ov.kind, 'oncall_change');
  assert.match(renderOncallText(ov), /override #1: <@UDAVE0001> is on call \(primary\) from 2026-03-26 12:00 UTC until 2026-03-26 14:00 UTC/);
  const during = await lf(c, 'oncall now');
  assert.is(during.kind === 'oncall_now' && during.now.primary.userId, 'UDAVE0001', 'the override wins');
  assert.is(during.kind === 'oncall_now' && during.now.primary.source, 'override:1');
  assert.is(during.kind === 'oncall_now' && during.now.primary.until?.toISOString(), '2026-03-26T14:00:00.000Z');
  const next = await lf(c, 'oncall next');
  assert.ok(next.kind === 'oncall_now' && next.next.primary?.userId === 'UALICE001' && next.next.primary.start.toISOString() === '2026-03-26T14:00:00.000Z', JSON.stringify(next));
  assert.match(renderOncallText(next), /primary: next UALICE001 from 2026-03-26 14:00 UTC/);
  const em = c.db.orm.em.fork();
  assert.is((await onCallAt(em, at('2026-03-26T14:00:00Z'))).primary.userId, 'UALICE001', 'back to the rotation at the end');
  await lf(c, 'oncall override cancel 1');
  assert.is((await onCallAt(em, at('2026-03-26T13:00:00Z'))).primary.userId, 'UALICE001', 'cancelled');
  const actions = (await recentAudit(em)).map((a) => a.action);
  for (const a of ['oncall:rotation_add', 'oncall:override', 'oncall:override_cancel']) assert.ok(actions.includes(a), a);
});

test('changes need an operator (refused and audited); bad input is a usage error', async (c) => {
  const r = await lf(c, 'oncall override UDAVE0001 2h', viewer);
  assert.is(r.kind, 'oncall_refused');
  assert.is((await recentAudit(c.db.orm.em.fork(), { action: 'oncall:override' }))[0]?.outcome, 'refused');
  const refused = async (text: string) => lf(c, text).then((r) => `resolved: ${JSON.stringify(r)}`, (err: Error) => err.message);
  assert.match(await refused('oncall rotation add x daily UA1 tz=Mars/Olympus'), /unknown time zone/);
  assert.match(await refused('oncall override @dave 2h'), /not a Slack user/);
  assert.match(await refused('oncall override UDAVE0001 soon'), /duration/);
  assert.match(await refused('oncall teleport'), /unknown oncall subcommand/);
});

test('the iCalendar feed lists each stretch with its person and stable UIDs', async (c) => {
  await lf(c, 'oncall rotation add cal daily UALICE001 UBOB00001 at=09:00 tz=Europe/Berlin start=2026-03-27');
  await lf(c, 'oncall contact <@UBOB00001|bob> bob@example.com');
  const em = c.db.orm.em.fork();
  const ics = await oncallCalendar(em, { from: at('2026-03-27T12:00:00Z'), days: 3 });
  assert.match(ics, /^BEGIN:VCALENDAR/);
  assert.match(ics, /SUMMARY:On call \(primary\): UALICE001/);
  assert.match(ics, /SUMMARY:On call \(primary\): bob@example.com/);
  assert.match(ics, /DTSTART:20260329T070000Z/, 'the Sunday hand-off at 09:00 CEST');
  const again = await oncallCalendar(em, { from: at('2026-03-27T18:00:00Z'), days: 3 });
  const uids = (s: string) => [...s.matchAll(/UID:(\S+)/g)].map((m) => m[1]);
  assert.equal(uids(again).slice(0, 2), uids(ics).slice(0, 2), 'same stretches, same UIDs on a later fetch');
});

test.run();
