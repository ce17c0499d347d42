/**
 * Renders any `/lf` result ({@link LfResult}) as a Slack message, with the response type the subcommand's
 * convention asks for (ephemeral lookups, in-channel actions and diagnoses).
 */
import { Blocks, type BlockBuilder } from 'slack-block-builder';
import type { LfResult } from '../commands/execute.js';
import { answerBlocks } from '../assistant/index.js';
import type { LfCommand } from '../commands/spec.js';
import { diagnosisBlocks, outcomeLine, verdictSection } from '../render/diagnosis-blocks.js';
import { helpBlocks } from './help.js';
import { renderIncidentSlack } from '../commands/incident-commands.js';
import { renderOpsSlack } from '../commands/ops-commands.js';
import { renderOncallSlack } from '../commands/oncall-commands.js';
import { renderChatSlack } from '../commands/chat-result.js';
import { cardsText, type BreakerCardsBody } from '../../alerts/breaker-cards.js';
import { renderBreakerCards } from '../render/breaker-cards.js';
import { buildMessage, clampText, escapeMrkdwn, fieldSections, formatUtc, section, statusBlocks, type SlackMessage } from './status.js';

/** A rendered answer: the message and whether the channel sees it. */
export interface SlackAnswer {
  message: SlackMessage;
  responseType: 'ephemeral' | 'in_channel';
}

const JOB_EMOJI: Record<string, string> = { running: ':hourglass_flowing_sand:', succeeded: ':white_check_mark:', failed: ':x:', stalled: ':warning:', interrupted: ':octagonal_sign:' };

/** Renders `result`; `command` decides ephemeral vs in_channel (refusals and help are always ephemeral). */
export function renderSlack(result: LfResult, command: LfCommand | undefined): SlackAnswer {
  const ephemeral = (message: SlackMessage): SlackAnswer => ({ message, responseType: 'ephemeral' });
  const byConvention = (message: SlackMessage): SlackAnswer => ({ message, responseType: command?.response ?? 'ephemeral' });
  switch (result.kind) {
    case 'help':
      return ephemeral(helpBlocks(result.unknown !== undefined ? { unknown: result.unknown } : {}));
    case 'status':
      return byConvention(statusBlocks(result.status));
    case 'diagnosis':
      return byConvention(diagnosisBlocks(result));
    case 'runbooks': {
      const lines = result.runbooks.map((r) => `• \`${r.id}\` — *${escapeMrkdwn(r.title)}*: ${escapeMrkdwn(clampText(r.symptoms.join('; '), 300))}`);
      const head = result.unknown !== undefined ? `:grey_question: No runbook \`${escapeMrkdwn(clampText(result.unknown, 80))}\`. ` : '';
      return ephemeral(buildMessage(`${head}Runbooks: ${result.runbooks.map((r) => r.id).join(', ')}`, [section(`${head}*Runbooks* — \`/lf diagnose <runbook>\``), section(lines.join('\n'))]));
    }
    case 'jobs': {
      const blocks: BlockBuilder[] = [Blocks.Header({ text: 'Scheduled jobs' })];
      for (const j of result.jobs) {
        const last = j.lastRun
          ? `${JOB_EMOJI[j.lastRun.status] ?? ''} last ${j.lastRun.id ? `#${j.lastRun.id} ` : ''}${j.lastRun.status} ${formatUtc(j.lastRun.startedAt.toISOString())}`
          : 'never run';
        const next = j.paused ? ':double_vertical_bar: *paused*' : j.nextRunAt ? `next ${formatUtc(j.nextRunAt.toISOString())}` : 'no next run';
        blocks.push(section(`*${escapeMrkdwn(j.name)}* \`${j.cron}\`${j.running ? ' · :hourglass_flowing_sand: running' : ''}\n${last} · ${next}\n_${escapeMrkdwn(j.why)}_`));
      }
      return byConvention(buildMessage(`Jobs: ${result.jobs.map((j) => `${j.name}${j.paused ? ' (paused)' : ''}`).join(', ')}`, blocks));
    }
    case 'job_action': {
      const text = `${result.ok ? ':white_check_mark:' : ':information_source:'} ${result.actor.display}: \`${result.action} ${escapeMrkdwn(result.job)}\` — ${escapeMrkdwn(result.detail)}`;
      return byConvention(buildMessage(text, [section(text)]));
    }
    case 'remediation': {
      const text = outcomeLine(result.title, result.outcome, result.actor);
      const blocks = [section(text)];
      const verdict = verdictSection(result.title, result.outcome);
      if (verdict) blocks.push(section(verdict.mrkdwn));
      const shared = result.outcome.status === 'succeeded' || result.outcome.status === 'failed';
      return shared ? byConvention(buildMessage(text, blocks)) : ephemeral(buildMessage(text, blocks));
    }
    case 'assistant':
      return byConvention(answerBlocks(result.answer));
    case 'audit': {
      const fields = result.rows.map(
        (r) => `*${r.outcome}* ${escapeMrkdwn(r.action)}\n${escapeMrkdwn(r.actor)} · ${formatUtc(r.at.toISOString())}${r.detail ? `\n_${escapeMrkdwn(clampText(r.detail, 200))}_` : ''}`,
      );
      return ephemeral(buildMessage(`Audit log: ${result.rows.length} recent actions`, [Blocks.Header({ text: 'Recent operator actions' }), ...(fields.length ? fieldSections(fields) : [section('_No actions recorded yet._')])]));
    }
    case 'incident_action':
    case 'incidents':
    case 'incident_timeline':
    case 'silence_action':
    case 'silences':
      return renderIncidentSlack(result);
    case 'oncall_now':
    case 'oncall_schedule':
    case 'oncall_change':
    case 'oncall_refused':
      return renderOncallSlack(result);
    case 'costs':
    case 'purchases':
    case 'changes':
    case 'eval_export':
      return renderOpsSlack(result);
    case 'report': {
      const body = clampText(result.text, 2900);
      return byConvention(buildMessage(`${result.title}\n${body}`, [Blocks.Header({ text: clampText(result.title, 150) }), section(`\`\`\`${body}\`\`\``)]));
    }
    case 'chat':
      return renderChatSlack(result);
    case 'breakers': {
      // the asker's own copy, without buttons: the listener posts the live card message in the channel
      const body: BreakerCardsBody = { type: 'breaker_cards', ref: '', asOf: result.asOf.toISOString(), cards: result.cards, readOnly: true };
      const r = renderBreakerCards(body, cardsText(result.cards));
      return ephemeral({ text: r.text, blocks: (r.blocks ?? []) as SlackMessage['blocks'] });
    }
    case 'refused':
      return ephemeral(buildMessage(`:no_entry: ${result.detail}`, [section(`:no_entry: ${escapeMrkdwn(result.detail)}`)]));
  }
}
