/**
 * The spend and eval subcommands of `/lf` (Slack and the CLI), called by bot/commands/execute.ts:
 *
 * - `costs` (viewer): spend per provider today and this month (UTC) from the gateway's cost ledger (`api_calls`),
 *   against each provider's budget (`<PROVIDER>_BUDGET_DAILY_USD` / `_BUDGET_MONTHLY_USD`), and the cost per lead
 *   emailed (all providers' spend ÷ emails SendGrid accepted in the same window).
 * - `changes` (viewer): the service's recent starts (version, commit, configuration keys changed), the daily
 *   pipeline's runs during each, run-time overrides changed since, and the last version that ran clean
 *   (domain/changes.ts) — the guide's "identify the last known good version".
 * - `purchases [window]` (viewer): the storefront funnel over the window (default 7d): emailed → clicked the report
 *   link → checkout started → paid → report sent, in businesses, with the conversion of each stage
 *   (domain/storefront/funnel.ts).
 * - `eval export <answer id> [expected=<root cause id>]` (operator): a stored assistant answer (typically one marked
 *   wrong with its 👎 button) as an eval case, with the tool outputs it saw, in the JSON format `npm run eval` reads
 *   from `bot/assistant/eval/cases/` (bot/assistant/store.ts `exportEvalCase`). Audited.
 */
import Table from 'cli-table3';
import type { types } from '@slack/bolt';
import { PROVIDERS, type ProviderId } from '../../domain/config.js';
import { changesReport, type ChangesReport } from '../../domain/changes.js';
import { AppError } from '../../domain/errors.js';
import { PIPELINE_JOB } from '../../domain/status.js';
import { DEFAULT_FUNNEL_WINDOW, funnelReport, type FunnelReport } from '../../domain/storefront/funnel.js';
import { emailsSentSince, spendByProvider } from '../../domain/queries/costs.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { clampText, escapeMrkdwn } from '../../domain/text/slack-text.js';
import { exportEvalCase, type ExportedEvalCase } from '../assistant/index.js';
import type { LfCommand } from './spec.js';

/** Names of the subcommands handled here. */
export const OPS_COMMAND_NAMES: ReadonlySet<string> = new Set(['costs', 'eval', 'changes', 'purchases']);

/** One provider's line of `/lf costs`. Money in USD; `*Pct` = spend ÷ budget × 100, null without a budget. */
export interface CostLine {
  provider: ProviderId;
  todayUsd: number;
  todayCalls: number;
  monthUsd: number;
  monthCalls: number;
  dailyBudgetUsd: number | undefined;
  monthlyBudgetUsd: number | undefined;
  dailyPct: number | null;
  monthlyPct: number | null;
}

/** What these subcommands produce (added to execute.ts's LfResult). */
export type OpsResult =
  | {
      kind: 'costs';
      /** Start of "today" and "this month" (UTC, ISO 8601). */
      dayStart: string;
      monthStart: string;
      lines: CostLine[];
      totalTodayUsd: number;
      totalMonthUsd: number;
      emailedToday: number;
      emailedMonth: number;
      /** Total spend ÷ leads emailed, null when nobody was emailed. */
      costPerLeadTodayUsd: number | null;
      costPerLeadMonthUsd: number | null;
    }
  | { kind: 'eval_export'; evalCase: ExportedEvalCase; actor: Actor }
  | { kind: 'changes'; report: ChangesReport }
  | { kind: 'purchases'; funnel: FunnelReport };

const pct = (spent: number, budget: number | undefined) => (budget === undefined || budget <= 0 ? null : (spent / budget) * 100);

/** `/lf costs`: see the module comment. */
export async function costsReport(ctx: RunbookContext): Promise<OpsResult> {
  const now = ctx.services.clock.now();
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const em = ctx.em();
  const [today, month, emailedToday, emailedMonth] = await Promise.all([spendByProvider(em, dayStart), spendByProvider(ctx.em(), monthStart), emailsSentSince(ctx.em(), dayStart), emailsSentSince(ctx.em(), monthStart)]);
  const budgets = ctx.services.config.gateway.budgets;
  const lines: CostLine[] = PROVIDERS.map((provider) => {
    const d = today.find((r) => r.provider === provider);
    const m = month.find((r) => r.provider === provider);
    const b = budgets[provider];
    return {
      provider,
      todayUsd: d?.costUsd ?? 0,
      todayCalls: d?.calls ?? 0,
      monthUsd: m?.costUsd ?? 0,
      monthCalls: m?.calls ?? 0,
      dailyBudgetUsd: b.dailyUsd,
      monthlyBudgetUsd: b.monthlyUsd,
      dailyPct: pct(d?.costUsd ?? 0, b.dailyUsd),
      monthlyPct: pct(m?.costUsd ?? 0, b.monthlyUsd),
    };
  });
  const totalTodayUsd = lines.reduce((s, l) => s + l.todayUsd, 0);
  const totalMonthUsd = lines.reduce((s, l) => s + l.monthUsd, 0);
  return {
    kind: 'costs',
    dayStart: dayStart.toISOString(),
    monthStart: monthStart.toISOString(),
    lines,
    totalTodayUsd,
    totalMonthUsd,
    emailedToday,
    emailedMonth,
    costPerLeadTodayUsd: emailedToday > 0 ? totalTodayUsd / emailedToday : null,
    costPerLeadMonthUsd: emailedMonth > 0 ? totalMonthUsd / emailedMonth : null,
  };
}

/**
 * Executes `costs` or `eval …` for `actor` (role of the command already checked by the caller).
 * @throws AppError `bad_request` for bad arguments (audited by the caller), `not_found` for an unknown answer.
 */
export async function executeOpsCommand(ctx: RunbookContext, cmd: LfCommand, args: string[], actor: Actor): Promise<OpsResult> {
  if (cmd.name === 'costs') return costsReport(ctx);
  if (cmd.name === 'changes') return { kind: 'changes', report: await changesReport(ctx.em(), PIPELINE_JOB) };
  if (cmd.name === 'purchases') {
    if (args.length > 1) throw new AppError('bad_request', `usage: ${cmd.usage}`);
    return { kind: 'purchases', funnel: await funnelReport(ctx.em(), ctx.services.clock.now(), args[0] ?? DEFAULT_FUNNEL_WINDOW) };
  }
  const [verb, idArg, ...rest] = args;
  if (verb !== 'export') throw new AppError('bad_request', 'usage: eval export <answer id> [expected=<root cause id>]');
  const id = /^#?(\d{1,9})$/.exec(idArg ?? '')?.[1];
  if (!id) throw new AppError('bad_request', `eval export needs an answer id (the number in the assistant's answer footer), got "${idArg ?? ''}"`);
  const expectedArg = rest.find((a) => a.startsWith('expected='));
  const unknown = rest.filter((a) => a !== expectedArg);
  if (unknown.length) throw new AppError('bad_request', `unknown argument(s) ${unknown.join(' ')}; usage: eval export <answer id> [expected=<root cause id>]`);
  let evalCase: ExportedEvalCase;
  try {
    evalCase = await exportEvalCase(ctx.em(), Number(id), expectedArg ? expectedArg.slice('expected='.length) : null);
  } catch (err) {
    throw new AppError('not_found', (err as Error).message);
  }
  await audit(ctx.em(), { at: ctx.services.clock.now(), actor, action: 'command:eval', input: { args }, outcome: 'succeeded', detail: `exported answer #${id} as eval case ${evalCase.name}` });
  return { kind: 'eval_export', evalCase, actor };
}

const usd = (n: number) => `$${n.toFixed(n < 1 ? 4 : 2)}`;
const pctText = (p: number | null) => (p === null ? 'no budget' : `${p.toFixed(0)}%`);
const budgetText = (spent: number, budget: number | undefined, p: number | null) => (budget === undefined ? usd(spent) : `${usd(spent)} of ${usd(budget)} (${pctText(p)})`);
const warn = (p: number | null) => (p === null ? '' : p >= 95 ? ' :red_circle:' : p >= 80 ? ' :large_orange_circle:' : '');

/** Block Kit for these results: costs only to the asker; an export in the channel (the team labels it). */
export function renderOpsSlack(result: OpsResult): { message: { text: string; blocks: types.KnownBlock[] }; responseType: 'ephemeral' | 'in_channel' } {
  if (result.kind === 'purchases') {
    const lines = funnelLines(result.funnel);
    return {
      message: {
        text: lines[0]!,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: `Storefront funnel, last ${result.funnel.window}` } },
          { type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${lines.slice(1).join('\n')}\`\`\`` } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: FUNNEL_NOTE(result.funnel) }] },
        ],
      },
      responseType: 'ephemeral',
    };
  }
  if (result.kind === 'changes') {
    const text = changesLines(result.report).join('\n');
    return { message: { text: clampText(text, 2900), blocks: [{ type: 'header', text: { type: 'plain_text', text: 'Deploys and configuration changes' } }, { type: 'section', text: { type: 'mrkdwn', text: clampText(escapeMrkdwn(text), 2900) } }] }, responseType: 'ephemeral' };
  }
  if (result.kind === 'eval_export') {
    const json = JSON.stringify(result.evalCase, null, 2);
    const text = `${result.actor.display} exported assistant answer #${result.evalCase.exportedFrom.answerId} as eval case ${result.evalCase.name}`;
    const note = result.evalCase.expected ? `expected root cause: \`${escapeMrkdwn(result.evalCase.expected)}\`` : 'no expected root cause yet: add `expected=<root cause id>` so `npm run eval` scores it';
    const blocks: types.KnownBlock[] = [
      { type: 'section', text: { type: 'mrkdwn', text: `:memo: ${escapeMrkdwn(text)} (${result.evalCase.recorded.length} recorded tool outputs); ${note}.` } },
      { type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${clampText(json, 2800)}\`\`\`` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `Save as \`bot/assistant/eval/cases/${result.evalCase.name}.json\` (or \`npm run lf -- eval export ${result.evalCase.exportedFrom.answerId} > …\`).` }] },
    ];
    return { message: { text, blocks }, responseType: 'in_channel' };
  }
  const lines = result.lines.map(
    (l) => `*${l.provider}*  today ${budgetText(l.todayUsd, l.dailyBudgetUsd, l.dailyPct)}${warn(l.dailyPct)} · ${l.todayCalls} calls\n      month ${budgetText(l.monthUsd, l.monthlyBudgetUsd, l.monthlyPct)}${warn(l.monthlyPct)} · ${l.monthCalls} calls`,
  );
  const perLead = (v: number | null, n: number) => (v === null ? `no lead emailed` : `${usd(v)} per lead (${n} emailed)`);
  const text = `Spend today ${usd(result.totalTodayUsd)}, this month ${usd(result.totalMonthUsd)}`;
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Provider spend' } },
    { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
    { type: 'section', text: { type: 'mrkdwn', text: `*Total* today ${usd(result.totalTodayUsd)} — ${perLead(result.costPerLeadTodayUsd, result.emailedToday)}\n*Total* this month ${usd(result.totalMonthUsd)} — ${perLead(result.costPerLeadMonthUsd, result.emailedMonth)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `UTC day from ${result.dayStart}, month from ${result.monthStart}; from the gateway's cost ledger. Budgets: <PROVIDER>_BUDGET_DAILY_USD / _BUDGET_MONTHLY_USD.` }] },
  ];
  return { message: { text, blocks }, responseType: 'ephemeral' };
}

/** Plain text (CLI): a table for costs; the eval case as JSON (pipe it into a file). */
export function renderOpsText(result: OpsResult): string {
  if (result.kind === 'purchases') return `${funnelLines(result.funnel).join('\n')}\n${FUNNEL_NOTE(result.funnel)}\n`;
  if (result.kind === 'changes') return `${changesLines(result.report).join('\n')}\n`;
  if (result.kind === 'eval_export') return `${JSON.stringify(result.evalCase, null, 2)}\n`;
  const t = new Table({ head: ['provider', 'today', 'calls', 'daily budget', 'month', 'calls', 'monthly budget'], style: { head: [], border: [] } });
  for (const l of result.lines)
    t.push([l.provider, usd(l.todayUsd), String(l.todayCalls), l.dailyBudgetUsd === undefined ? '-' : `${usd(l.dailyBudgetUsd)} (${pctText(l.dailyPct)})`, usd(l.monthUsd), String(l.monthCalls), l.monthlyBudgetUsd === undefined ? '-' : `${usd(l.monthlyBudgetUsd)} (${pctText(l.monthlyPct)})`]);
  const per = (v: number | null, n: number) => (v === null ? 'no lead emailed' : `${usd(v)} per lead emailed (${n})`);
  return `${t.toString()}\ntotal today ${usd(result.totalTodayUsd)}: ${per(result.costPerLeadTodayUsd, result.emailedToday)}\ntotal this month ${usd(result.totalMonthUsd)}: ${per(result.costPerLeadMonthUsd, result.emailedMonth)}\n`;
}

/** The changes report as lines (shared by Slack and the CLI). */
function changesLines(r: ChangesReport): string[] {
  const ver = (d: { version: string; gitSha: string | null }) => `${d.version}${d.gitSha ? ` (${d.gitSha})` : ''}`;
  const lines = [r.lastKnownGood ? `Last known good: ${ver(r.lastKnownGood)}, started ${r.lastKnownGood.startedAt.toISOString()} on ${r.lastKnownGood.host}` : 'Last known good: none of the starts shown ran a clean daily pipeline yet'];
  if (r.deploys.length === 0) lines.push('No starts recorded yet.');
  for (const d of r.deploys) {
    const runs = `${d.runs.succeeded} succeeded, ${d.runs.failed} failed${d.runs.interrupted ? `, ${d.runs.interrupted} interrupted` : ''}`;
    const cfg = d.configChanged.length ? `; config changed: ${d.configChanged.slice(0, 6).map((c) => `${c.key} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`).join(', ')}${d.configChanged.length > 6 ? ` (+${d.configChanged.length - 6} more)` : ''}` : '';
    lines.push(`${d.deploy.startedAt.toISOString()}  ${ver(d.deploy)}${d.versionChanged ? ' NEW VERSION' : ''} on ${d.deploy.host}: daily runs ${runs}${d.clean ? ' (clean)' : ''}${cfg}`);
  }
  for (const o of r.overrides) lines.push(`override ${o.key} = ${JSON.stringify(o.value)} by ${o.updatedBy ?? 'unknown'} at ${o.updatedAt.toISOString()}`);
  return lines;
}

const rate = (r: number | null) => (r === null ? '–' : `${(r * 100).toFixed(r > 0 && r < 0.1 ? 1 : 0)}%`);

/** The funnel as lines: a summary, then one aligned line per stage with both conversion rates (Slack and the CLI). */
function funnelLines(f: FunnelReport): string[] {
  const [emailed, , , paid, sent] = f.steps;
  const head = `Last ${f.window}: ${emailed!.count} emailed, ${paid!.count} paid (${rate(paid!.fromEmailed)}), ${sent!.count} reports sent`;
  const width = Math.max(...f.steps.map((s) => s.name.length));
  const body = f.steps.map((s, i) =>
    i === 0 ? `${s.name.padEnd(width)}  ${String(s.count).padStart(5)}` : `${s.name.padEnd(width)}  ${String(s.count).padStart(5)}  ${rate(s.fromPrevious).padStart(4)} of the step before, ${rate(s.fromEmailed).padStart(4)} of emailed`,
  );
  return [head, ...body];
}

const FUNNEL_NOTE = (f: FunnelReport) =>
  `Businesses emailed from ${f.from.toISOString().slice(0, 16).replace('T', ' ')} to ${f.to.toISOString().slice(0, 16).replace('T', ' ')} UTC, followed through their report link; \`purchases 24h|30d\` for another window, \`diagnose payments\` for the payment runbook.`;
