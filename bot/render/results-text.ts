/**
 * Plain-text rendering of `/lf` results for the terminal CLI: tables (cli-table3) for findings, jobs and the audit
 * log; the same facts as the Block Kit rendering, without buttons (the CLI's `fix` subcommand runs a remediation).
 */
import Table from 'cli-table3';
import type { LfResult } from '../commands/execute.js';
import { answerText } from '../assistant/index.js';
import { renderStatusText } from './status-text.js';
import { renderIncidentText } from '../commands/incident-commands.js';
import { renderOpsText } from '../commands/ops-commands.js';
import { renderOncallText } from '../commands/oncall-commands.js';
import { renderChatText } from '../commands/chat-result.js';
import type { FindingStatus } from '../../runbooks/define.js';
import { evidenceLine } from './diagnosis-blocks.js';

const MARK: Record<FindingStatus, string> = { ok: 'OK', warn: 'WARN', problem: 'PROBLEM', no_data: 'NO DATA', error: 'ERROR' };

function table(head: string[], rows: string[][], widths?: number[]): string {
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: true, ...(widths ? { colWidths: widths } : {}) });
  t.push(...rows);
  return t.toString();
}

const utc = (d: Date | null | undefined) => (d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '-');

type ResultOf<K extends LfResult['kind']> = Extract<LfResult, { kind: K }>;

/** A diagnosis: the findings table, then each root cause with its `lf fix` lines (default inputs filled in). */
function diagnosisText(result: ResultOf<'diagnosis'>): string {
  const d = result.diagnosis;
  const rows = d.results.map((r) => [MARK[r.finding.status], r.title, `${r.finding.summary}${r.finding.evidence ? `\n${evidenceLine(r.finding.evidence, 400)}` : ''}`]);
  const lines = [`${d.title} (${d.runbook})`, table(['status', 'check', 'finding'], rows, [9, 28, 80])];
  if (result.full && d.rootCauses.length === 0) lines.push('Root cause: none indicated by these findings.');
  for (const c of d.rootCauses) {
    lines.push(`Root cause: ${c.title} [${c.id}]`);
    for (const id of c.remediations) {
      const m = result.runbook.remediations.find((x) => x.id === id);
      if (!m) continue;
      let args = '';
      try {
        const input = m.defaultInput?.(Object.fromEntries(d.results.map((r) => [r.id, r.finding]))) ?? {};
        args = Object.entries(input).map(([k, v]) => ` ${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('');
      } catch {
        /* no default input */
      }
      lines.push(`  fix: npm run lf -- fix ${d.runbook} ${m.id}${args}   # ${m.title} (${m.risk}, ${m.requiredRole})`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The jobs table: schedule, state, last and next run (UTC). */
function jobsText(jobs: ResultOf<'jobs'>['jobs']): string {
  return `${table(
    ['job', 'schedule (UTC)', 'state', 'last run', 'next run'],
    jobs.map((j) => [
      j.name,
      j.cron,
      j.paused ? 'paused' : j.running ? 'running' : 'scheduled',
      j.lastRun ? `${j.lastRun.id ? `#${j.lastRun.id} ` : ''}${j.lastRun.status} ${utc(j.lastRun.startedAt)}` : 'never',
      j.paused ? '-' : utc(j.nextRunAt),
    ]),
  )}\n`;
}

/** The breaker cards as a table, with the remediations that act on them. */
function breakersText(result: ResultOf<'breakers'>): string {
  const rows = result.cards.map((c) => [
    c.name,
    c.state,
    c.state === 'half_open' ? `${c.halfOpenSuccesses}/${c.halfOpenNeeded} probes ok` : `${c.consecutiveFailures}/${c.failureThreshold}`,
    utc(c.openedAt ? new Date(c.openedAt) : null),
    c.state === 'half_open' ? (c.nextProbeAt ? `in flight until ${utc(new Date(c.nextProbeAt))}` : 'next call') : utc(c.nextProbeAt ? new Date(c.nextProbeAt) : null),
    [c.why, c.operator ? `${c.operator.action} by ${c.operator.by ?? 'an operator'} ${utc(new Date(c.operator.at))}` : null].filter(Boolean).join('; ') || '-',
  ]);
  return `${table(['provider', 'state', 'failures', 'opened', 'next probe', 'why / who'], rows, [11, 11, 18, 22, 24, 50])}\nas of ${utc(result.asOf)}; act with \`lf fix external-apis probe-breaker|keep-breaker-open|force-close-breaker provider=<p>\`\n`;
}

/** Renders `result` as text ending in a newline. `helpText` is printed for `help`. */
export function renderText(result: LfResult, helpText: string): string {
  switch (result.kind) {
    case 'help':
      return result.unknown !== undefined ? `Unknown command "${result.unknown}".\n\n${helpText}` : helpText;
    case 'status':
      return renderStatusText(result.status);
    case 'diagnosis':
      return diagnosisText(result);
    case 'runbooks': {
      const head = result.unknown !== undefined ? `No runbook "${result.unknown}".\n` : '';
      return `${head}${table(['runbook', 'title', 'symptoms'], result.runbooks.map((r) => [r.id, r.title, r.symptoms.join('; ')]), [26, 26, 60])}\n`;
    }
    case 'jobs':
      return jobsText(result.jobs);
    case 'job_action':
      return `${result.action} ${result.job}: ${result.detail}\n`;
    case 'remediation': {
      const o = result.outcome;
      const lines = [`${result.title}: ${o.status} — ${o.detail}`];
      if (o.status === 'succeeded' && o.verification) lines.push(`verified: ${o.verification.summary}`);
      return `${lines.join('\n')}\n`;
    }
    case 'assistant':
      return answerText(result.answer).replace(/\n?$/, '\n');
    case 'audit':
      return `${table(['at', 'actor', 'action', 'outcome', 'detail'], result.rows.map((r) => [utc(r.at), r.actor, r.action, r.outcome, r.detail ?? '']), [22, 18, 40, 11, 50])}\n`;
    case 'incident_action':
    case 'incidents':
    case 'incident_timeline':
    case 'silence_action':
    case 'silences':
      return renderIncidentText(result);
    case 'oncall_now':
    case 'oncall_schedule':
    case 'oncall_change':
    case 'oncall_refused':
      return renderOncallText(result);
    case 'costs':
    case 'purchases':
    case 'changes':
    case 'eval_export':
      return renderOpsText(result);
    case 'report':
      return `${result.text}\n`;
    case 'chat':
      return renderChatText(result);
    case 'refused':
      return `refused: ${result.detail}\n`;
    case 'breakers':
      return breakersText(result);
  }
}

/** Exit code for a result: 1 when refused, a remediation or job run did not succeed, a runbook is unknown or a breaker is open; else 0. */
export function exitCodeFor(result: LfResult): number {
  if (result.kind === 'refused' || result.kind === 'oncall_refused') return 1;
  if (result.kind === 'report' || result.kind === 'chat') return result.ok ? 0 : 1;
  // a diagnosis that found a PROBLEM (or could not run a check) is "problems found" for cron and monitoring
  if (result.kind === 'diagnosis') return result.diagnosis.results.some((r) => r.finding.status === 'problem' || r.finding.status === 'error') ? 1 : 0;
  if (result.kind === 'incident_action') return result.status === 'refused' ? 1 : 0;
  if (result.kind === 'silence_action') return result.ok ? 0 : 1;
  if (result.kind === 'job_action') return result.ok ? 0 : 1;
  if (result.kind === 'runbooks' && result.unknown !== undefined) return 1;
  if (result.kind === 'remediation') return result.outcome.status === 'succeeded' ? 0 : 1;
  // an open breaker is a problem found, as the breaker-states diagnostic says
  if (result.kind === 'breakers') return result.cards.some((c) => c.state === 'open') ? 1 : 0;
  return 0;
}
