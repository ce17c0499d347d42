/**
 * One answer shape for both paths (offline planner and LLM), its Block Kit message and its plain-text rendering.
 * Buttons are the runbooks' own remediation buttons (bot/render/diagnosis-blocks.ts `remediationButton`), so a click goes
 * through the same confirmation, role check, claim and audit as a `/lf diagnose` button; below them, the feedback
 * buttons `assistant:feedback:correct|wrong`.
 */
import { Blocks, Elements, type BlockBuilder } from 'slack-block-builder';
import type { FindingStatus, RemediationRisk, Role } from '../../runbooks/define.js';
import { findRemediation } from '../../runbooks/actions.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { FINDING_EMOJI, remediationButton } from '../render/diagnosis-blocks.js';
import { SLACK_LIMITS, buildMessage, clampText, escapeMrkdwn, type SlackMessage } from '../render/slack.js';

/** action_id of the feedback buttons. */
export const FEEDBACK_ACTION_CORRECT = 'assistant:feedback:correct';
export const FEEDBACK_ACTION_WRONG = 'assistant:feedback:wrong';

/** A finding shown in support of the answer. */
export interface AnswerFinding {
  runbook: string;
  diagnostic: string;
  title: string;
  status: FindingStatus;
  summary: string;
}

/** A remediation offered as a button (never executed by the assistant). */
export interface SuggestedRemediation {
  runbook: string;
  remediation: string;
  title: string;
  input: Record<string, unknown>;
  requiredRole: Role;
  risk: RemediationRisk;
}

/** One tool call as recorded (the eval export replays `output`). */
export interface ToolCallRecord {
  /** `<runbook>__<diagnostic>` or `propose_remediation`. */
  name: string;
  args: Record<string, unknown>;
  /** What the tool returned (redacted finding, or a refusal). */
  output: unknown;
  ok: boolean;
  ms: number;
}

/** Token use and cost of the LLM path. */
export interface AnswerUsage {
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  costUsd: number;
}

/** Confidence as a label plus a number in [0, 1]. */
export type ConfidenceLabel = 'high' | 'medium' | 'low';

/** The assistant's answer, whatever path produced it. */
export interface AssistantAnswer {
  question: string;
  mode: 'offline' | 'llm';
  /** `llm` answers: true when the endpoint is the sandbox's scripted model, not OpenAI. */
  sandboxModel?: boolean;
  rootCause: { runbook: string; id: string; title: string } | null;
  /** Other root causes the findings indicate. */
  alternatives: { runbook: string; id: string; title: string }[];
  /** Indicated causes that are effects of the root cause (downstream of it, across runbooks). */
  effects?: { runbook: string; id: string; title: string }[];
  /** Indicated problems the root cause does not explain, mentioned apart. */
  unrelated?: { runbook: string; id: string; title: string }[];
  /** The model's refusal text, when it refused (LLM path). */
  refusal?: string;
  summary: string;
  findings: AnswerFinding[];
  suggestions: SuggestedRemediation[];
  confidence: { label: ConfidenceLabel; score: number };
  /** Runbooks consulted, best first. */
  runbooks: string[];
  toolCalls: ToolCallRecord[];
  usage?: AnswerUsage;
  /** e.g. "deadline reached after 45 s", "tool budget spent". */
  notes: string[];
  /**
   * What was deployed or changed in the 24 h before the question (domain/changes.ts recentChangeLines): the guide's
   * "what changed?"; empty when nothing did; absent when it could not be read.
   */
  changes?: string[];
  durationMs: number;
  /** Identifies this answer's buttons (one claim per button). */
  nonce: string;
  issuedAt: Date;
  /** Row id in assistant_answers once stored. */
  id?: number;
}

/** The confidence label of a score. */
export function confidenceLabel(score: number): ConfidenceLabel {
  return score >= 0.75 ? 'high' : score >= 0.45 ? 'medium' : 'low';
}

/** A suggestion for a runbook's remediation (undefined for an unknown id). */
export function suggestion(runbook: string, remediation: string, input: Record<string, unknown>): SuggestedRemediation | undefined {
  const found = findRemediation(RUNBOOKS, runbook, remediation);
  if (!found) return undefined;
  const m = found.remediation;
  return { runbook, remediation, title: m.title, input, requiredRole: m.requiredRole, risk: m.risk };
}

/** The footer line: mode, tool calls, time, tokens and cost. */
export function footerLine(a: AssistantAnswer): string {
  const parts = [
    a.mode === 'llm' ? `LLM${a.sandboxModel ? ' (sandbox model)' : a.usage ? ` ${a.usage.model}` : ''}` : 'offline planner',
    `${a.toolCalls.length} tool call${a.toolCalls.length === 1 ? '' : 's'}`,
    `${(a.durationMs / 1000).toFixed(1)} s`,
  ];
  if (a.usage) parts.push(`${a.usage.totalTokens} tokens (${a.usage.promptTokens} in, ${a.usage.completionTokens} out)`, `$${a.usage.costUsd.toFixed(4)}`);
  if (a.id !== undefined) parts.push(`answer #${a.id}`);
  return parts.join(' · ');
}

/** Plain text (CLI, logs, Slack fallback text). */
export function answerText(a: AssistantAnswer): string {
  const lines = [`Q: ${a.question}`, ''];
  lines.push(a.rootCause ? `Root cause: ${a.rootCause.title} (${a.rootCause.runbook}/${a.rootCause.id})` : 'Root cause: none indicated by the findings.');
  lines.push(`Confidence: ${a.confidence.label} (${a.confidence.score.toFixed(2)})`);
  if (a.summary) lines.push('', a.summary);
  if (a.findings.length) {
    lines.push('', 'Findings:');
    for (const f of a.findings) lines.push(`  [${f.status.toUpperCase()}] ${f.title} (${f.runbook}): ${f.summary}`);
  }
  if (a.refusal !== undefined) lines.push('', `The model refused: ${a.refusal}`);
  if (a.effects?.length) lines.push('', `It explains: ${a.effects.map((c) => `${c.title} (${c.runbook}/${c.id})`).join('; ')}`);
  if (a.unrelated?.length) lines.push('', `Unrelated problems: ${a.unrelated.map((c) => `${c.title} (${c.runbook}/${c.id})`).join('; ')}`);
  else if (a.alternatives.length && !a.effects) lines.push('', `Also indicated: ${a.alternatives.map((c) => `${c.title} (${c.runbook}/${c.id})`).join('; ')}`);
  if (a.suggestions.length) {
    lines.push('', 'Suggested fixes (run with `lf fix <runbook> <remediation>`; needs the role shown):');
    for (const s of a.suggestions) {
      const kv = Object.entries(s.input).map(([k, v]) => ` ${k}=${String(v)}`).join('');
      lines.push(`  - ${s.title}: lf fix ${s.runbook} ${s.remediation}${kv} (${s.requiredRole})`);
    }
  }
  if (a.changes) lines.push('', a.changes.length ? `Changed in the 24 h before: ${a.changes.join('; ')}` : 'No deploy, configuration or setting change in the 24 h before.');
  for (const n of a.notes) lines.push(`Note: ${n}`);
  lines.push('', footerLine(a));
  return `${lines.join('\n')}\n`;
}

/** The Slack message for an answer: root cause, findings, remediation buttons, confidence, footer, feedback. */
export function answerBlocks(a: AssistantAnswer): SlackMessage {
  const cause = a.rootCause ? `${a.rootCause.title}` : 'no root cause indicated';
  const text = `${clampText(a.question, 150)} — ${cause} (confidence ${a.confidence.label})`;
  const blocks: BlockBuilder[] = [
    Blocks.Section({
      text: clampText(
        a.rootCause
          ? `:dart: *Root cause:* ${escapeMrkdwn(a.rootCause.title)} \`${a.rootCause.runbook}/${a.rootCause.id}\``
          : ':grey_question: *Root cause:* none indicated by the findings',
        SLACK_LIMITS.sectionText,
      ),
    }),
  ];
  if (a.summary) blocks.push(Blocks.Section({ text: clampText(escapeMrkdwn(a.summary), SLACK_LIMITS.sectionText) }));
  const shown = a.findings.slice(0, 8);
  if (shown.length)
    blocks.push(
      Blocks.Section({
        text: clampText(
          `*Findings*\n${shown.map((f) => `${FINDING_EMOJI[f.status]} *${escapeMrkdwn(f.title)}* — ${escapeMrkdwn(clampText(f.summary, 300))}`).join('\n')}`,
          SLACK_LIMITS.sectionText,
        ),
      }),
    );
  if (a.effects?.length)
    blocks.push(Blocks.Context().elements(clampText(`It explains: ${a.effects.map((c) => escapeMrkdwn(c.title)).join('; ')}`, 2000)));
  if (a.unrelated?.length)
    blocks.push(Blocks.Context().elements(clampText(`Unrelated problems: ${a.unrelated.map((c) => escapeMrkdwn(c.title)).join('; ')}`, 2000)));
  else if (a.alternatives.length && !a.effects)
    blocks.push(Blocks.Context().elements(clampText(`Also indicated: ${a.alternatives.map((c) => escapeMrkdwn(c.title)).join('; ')}`, 2000)));
  const buttons = a.suggestions
    .map((s) => {
      const found = findRemediation(RUNBOOKS, s.runbook, s.remediation);
      return found ? remediationButton(s.runbook, found.remediation, { r: s.runbook, m: s.remediation, i: s.input, n: a.nonce, t: a.issuedAt.getTime() }) : undefined;
    })
    .filter((b) => b !== undefined)
    .slice(0, 5);
  if (buttons.length) blocks.push(Blocks.Actions({ blockId: 'assistant:fixes' }).elements(...buttons));
  if (a.changes?.length) blocks.push(Blocks.Context().elements(clampText(`:arrows_counterclockwise: Changed in the 24 h before: ${a.changes.map(escapeMrkdwn).join(' · ')}`, 2000)));
  const notes = a.notes.length ? ` · ${a.notes.join(' · ')}` : '';
  blocks.push(Blocks.Context().elements(clampText(`Confidence *${a.confidence.label}* (${a.confidence.score.toFixed(2)}) · ${footerLine(a)}${notes}`, 2000)));
  if (a.id !== undefined)
    blocks.push(
      Blocks.Actions({ blockId: 'assistant:feedback' }).elements(
        Elements.Button({ text: 'Correct', actionId: FEEDBACK_ACTION_CORRECT, value: String(a.id) }),
        Elements.Button({ text: 'Wrong', actionId: FEEDBACK_ACTION_WRONG, value: String(a.id) }),
      ),
    );
  return buildMessage(text, blocks);
}
