/**
 * Block Kit for runbook results (pure): findings with status emoji and evidence, root causes, and one button per
 * remediation (with a confirmation dialog naming the effect and the role it needs), plus remediation outcomes.
 * Slack limits are kept: ≤ 50 blocks (beyond that the message says how many were left out and carries the full
 * text in `overflowText`, which the Slack layer uploads as a file), ≤ 3000 characters per section (longer text is
 * split over several sections), button values ≤ 2000 characters.
 */
import { Bits, Blocks, Elements, type BlockBuilder } from 'slack-block-builder';
import type { RemediationOutcome, Actor } from '../../runbooks/actions.js';
import { VERDICT_LABEL, type Verdict } from '../../runbooks/verify.js';
import { renderDiagnosisText, type DiagnosisResult, type FindingStatus, type Remediation } from '../../runbooks/define.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { describeInput } from '../../runbooks/grounding.js';
import { SLACK_LIMITS, buildMessage, clampText, escapeMrkdwn, type SlackMessage } from './slack.js';

/** Emoji per finding status. */
export const FINDING_EMOJI: Record<FindingStatus, string> = {
  ok: ':white_check_mark:',
  warn: ':warning:',
  problem: ':red_circle:',
  no_data: ':white_circle:',
  error: ':x:',
};

/** action_id prefix of remediation buttons (`remediate:<runbook>/<remediation>`). */
export const REMEDIATE_ACTION_PREFIX = 'remediate:';

/** What a remediation button carries in its `value` (JSON, ≤ 2000 chars). */
export interface RemediationButtonValue {
  /** runbook id */
  r: string;
  /** remediation id */
  m: string;
  /** input */
  i: Record<string, unknown>;
  /** nonce of the offering diagnosis */
  n: string;
  /** issued at, epoch ms */
  t: number;
}

/** Splits mrkdwn text into sections of at most 3000 characters, at line breaks where possible. */
export function splitSections(text: string, max: number = SLACK_LIMITS.sectionText): BlockBuilder[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = max;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  if (rest.length > 0) parts.push(rest);
  return parts.map((p) => Blocks.Section({ text: p }));
}

/** Evidence as one compact line: `key: value · key: value` (objects as JSON), cut to `max`. */
export function evidenceLine(evidence: Record<string, unknown> | undefined, max = 600): string {
  if (!evidence) return '';
  const parts = Object.entries(evidence).map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
  return clampText(parts.join(' · '), max);
}

/** A remediation button with its confirmation dialog. */
export function remediationButton(
  runbookId: string,
  rem: Remediation<RunbookContext>,
  value: RemediationButtonValue,
): ReturnType<typeof Elements.Button> {
  let json = JSON.stringify(value);
  let input = value.i;
  if (json.length > 2000) {
    input = {}; // input too large for a button: defaults apply
    json = JSON.stringify({ ...value, i: input });
  }
  // the dialog names every input the click will use (e.g. which provider, how many minutes), then the role and risk
  const tail = ` Inputs: ${clampText(describeInput(input), 160)}. (needs the ${rem.requiredRole} role; risk: ${rem.risk})`;
  const button = Elements.Button({
    text: clampText(rem.title, 75),
    actionId: `${REMEDIATE_ACTION_PREFIX}${runbookId}/${rem.id}`.slice(0, 255),
    value: json,
  }).confirm(
    Bits.ConfirmationDialog({
      title: clampText(`Confirm: ${rem.title}`, 100),
      text: `${clampText(rem.confirmation, Math.max(40, 300 - tail.length))}${tail}`.slice(0, 300),
      confirm: 'Do it',
      deny: 'Cancel',
    }),
  );
  if (rem.risk === 'destructive' || rem.risk === 'money') button.danger();
  else button.primary();
  return button;
}

/** The Slack message for a diagnosis. Buttons are offered only for a full runbook run with root causes. */
export function diagnosisBlocks(result: DiagnosisResult): SlackMessage {
  const { diagnosis, runbook } = result;
  const counts: Record<string, number> = {};
  for (const r of diagnosis.results) counts[r.finding.status] = (counts[r.finding.status] ?? 0) + 1;
  const worst = (['error', 'problem', 'warn', 'no_data', 'ok'] as FindingStatus[]).find((s) => counts[s]) ?? 'ok';
  const causeText = diagnosis.rootCauses.length ? `root cause: ${diagnosis.rootCauses.map((c) => c.title).join('; ')}` : 'no root cause indicated';
  const text = `${diagnosis.title}: ${diagnosis.results.length} checks, ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')}; ${causeText}`;
  const blocks: BlockBuilder[] = [
    Blocks.Header({ text: clampText(diagnosis.title, SLACK_LIMITS.headerText) }),
    Blocks.Context().elements(
      `${FINDING_EMOJI[worst]} runbook \`${diagnosis.runbook}\` · ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ')} · ${result.issuedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    ),
  ];
  for (const r of diagnosis.results) {
    const ev = evidenceLine(r.finding.evidence);
    const body = `${FINDING_EMOJI[r.finding.status]} *${escapeMrkdwn(r.title)}* — ${escapeMrkdwn(r.finding.summary)}${ev ? `\n\`${escapeMrkdwn(ev).replace(/`/g, "'")}\`` : ''}`;
    blocks.push(...splitSections(body));
  }
  if (result.full || diagnosis.rootCauses.length > 0) blocks.push(Blocks.Divider());
  if (diagnosis.rootCauses.length === 0 && result.full) blocks.push(Blocks.Section({ text: '*Root cause:* none indicated by these findings.' }));
  const findings = Object.fromEntries(diagnosis.results.map((r) => [r.id, r.finding]));
  for (const cause of diagnosis.rootCauses) {
    blocks.push(Blocks.Section({ text: clampText(`:dart: *Root cause:* ${escapeMrkdwn(cause.title)}`, SLACK_LIMITS.sectionText) }));
    const buttons = cause.remediations
      .map((id) => runbook.remediations.find((m) => m.id === id))
      .filter((m): m is Remediation<RunbookContext> => m !== undefined)
      .map((m) => {
        let input: Record<string, unknown> = {};
        try {
          input = m.defaultInput?.(findings) ?? {};
        } catch {
          input = {};
        }
        return remediationButton(runbook.id, m, { r: runbook.id, m: m.id, i: input, n: result.nonce, t: result.issuedAt.getTime() });
      });
    if (buttons.length > 0) blocks.push(Blocks.Actions({ blockId: `rc:${cause.id}`.slice(0, 255) }).elements(...buttons.slice(0, 25)));
  }
  const msg = buildMessage(text, blocks);
  if (blocks.length > SLACK_LIMITS.blocks) return { ...msg, overflowText: renderDiagnosisText(diagnosis) };
  return msg;
}

/** One line for a remediation outcome, naming who acted. */
export function outcomeLine(title: string, outcome: RemediationOutcome, actor: Actor): string {
  const who = actor.display;
  switch (outcome.status) {
    case 'succeeded':
      return `:white_check_mark: *${escapeMrkdwn(title)}* — done by ${who}: ${escapeMrkdwn(outcome.detail)}`;
    case 'failed':
      return `:x: *${escapeMrkdwn(title)}* — tried by ${who}, ${escapeMrkdwn(outcome.detail)}`;
    case 'duplicate':
      return `:information_source: *${escapeMrkdwn(title)}* — ${escapeMrkdwn(outcome.detail)}`;
    case 'refused':
      return `:no_entry: *${escapeMrkdwn(title)}* — not done: ${escapeMrkdwn(outcome.detail)}`;
  }
}

/** Emoji of each verdict (Slack). */
export const VERDICT_EMOJI: Record<Verdict, string> = { fixed: ':white_check_mark:', not_fixed_yet: ':warning:', nothing_to_fix: ':information_source:' };

/**
 * The verification after a remediation (runbooks/verify.ts) as one mrkdwn section: the verdict (*Fixed*, *Not fixed
 * yet*, *Nothing to fix*) and the finding behind it (the one before the run for Nothing to fix, else the one after).
 * Undefined unless the outcome succeeded and was verified.
 */
export function verdictSection(title: string, outcome: RemediationOutcome): { text: string; mrkdwn: string } | undefined {
  if (outcome.status !== 'succeeded' || !outcome.verification) return undefined;
  const v = outcome.verification;
  const shown = v.verdict === 'nothing_to_fix' || !v.after ? v.before : v.after;
  const when = v.verdict === 'nothing_to_fix' ? 'before it ran' : 'after it ran';
  return {
    text: `${VERDICT_LABEL[v.verdict]} after "${title}": ${shown.title}: ${shown.finding.summary}`,
    mrkdwn: `${VERDICT_EMOJI[v.verdict]} *${VERDICT_LABEL[v.verdict]}* — checked ${when}: _${escapeMrkdwn(title)}_\n${FINDING_EMOJI[shown.finding.status]} *${escapeMrkdwn(shown.title)}* — ${escapeMrkdwn(shown.finding.summary)}`,
  };
}

/** The verification after a remediation as its own message (the Slack button's follow-up): see {@link verdictSection}. */
export function recheckBlocks(title: string, outcome: RemediationOutcome): SlackMessage | undefined {
  const v = verdictSection(title, outcome);
  if (!v) return undefined;
  return buildMessage(v.text, [Blocks.Section({ text: clampText(v.mrkdwn, SLACK_LIMITS.sectionText) })]);
}
