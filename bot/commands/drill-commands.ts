/**
 * `/lf drill <provider> <fault> [duration]` (admin; the CLI's `lf drill …` is the same path): starts a fault drill in
 * the sandbox and answers at once ("drill #3 started: yelp server_error for 2 min"); the service's drill keeper
 * measures it and posts the report (alerts/drills.ts). `/lf drill` alone lists the active drill and the last ones.
 * From the terminal the fault must go into the running service's sandbox (the one whose keeper measures it), so a
 * CLI without a reachable service is refused.
 */
import { drillRequest, startDrill } from '../../alerts/drills.js';
import { drillSummary } from '../../alerts/drill-report.js';
import { recentDrills } from '../../domain/queries/drills.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { escapeMrkdwn } from '../../domain/text/slack-text.js';
import type { ChatResult } from './chat-result.js';

const refused = (detail: string, data: unknown = { status: 'refused', detail }): ChatResult => ({
  kind: 'chat',
  title: 'Drill refused',
  text: detail,
  mrkdwn: `:no_entry: ${escapeMrkdwn(detail)}`,
  data,
  ok: false,
  responseType: 'ephemeral',
});

/**
 * Executes `drill [<provider> <fault> [duration]]` for `actor` (the executor checked the admin role).
 * @throws AppError `bad_request` for malformed words (audited by the executor).
 */
export async function executeDrillCommand(ctx: RunbookContext, args: string[], actor: Actor): Promise<ChatResult> {
  if (args.length === 0) {
    const drills = await recentDrills(ctx.em(), 5);
    const lines = drills.map((d) => `${drillSummary(d)} — started by ${d.startedBy} at ${d.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
    const text = lines.length ? lines.join('\n') : 'No drills yet: `drill <provider> <fault> [duration]` starts one (e.g. `drill yelp server_error 2m`).';
    return { kind: 'chat', title: 'Drills', text, mrkdwn: escapeMrkdwn(text), data: { drills }, ok: true, responseType: 'ephemeral' };
  }
  const request = drillRequest(args);
  if (actor.source === 'cli' && !ctx.services.config.sandbox.url) {
    // the CLI started a sandbox of its own: a fault there would vanish with this process and nobody would measure it
    const detail = 'no running service found (its sandbox did not answer): start the service (`npm start`), which injects, measures and reports the drill';
    await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: 'drill:start', input: { ...request }, outcome: 'refused', detail });
    return refused(detail);
  }
  const out = await startDrill(ctx.em, ctx.services, request, actor);
  if (out.status !== 'started') return { ...refused(out.detail, out), title: out.status === 'failed' ? 'Drill failed to start' : 'Drill refused' };
  const d = out.drill;
  const text = `${out.text}; the report follows when it ends (detection, diagnosis and recovery times)`;
  return {
    kind: 'chat',
    title: `Drill #${d.id}`,
    text,
    mrkdwn: `:test_tube: *${escapeMrkdwn(out.text)}* by ${escapeMrkdwn(actor.display)}. The sandbox answers ${escapeMrkdwn(d.provider)} with \`${escapeMrkdwn(d.fault)}\` until ${d.endsAt.toISOString().slice(11, 19)} UTC; the report (time to detection, diagnosis and recovery) follows when it ends.`,
    data: { status: 'started', drill: d },
    ok: true,
    responseType: 'in_channel',
  };
}
