/**
 * The size guard every outbox message passes before it is sent: it keeps a message inside Slack's limits so Slack
 * never answers `msg_blocks_too_long`, `invalid_blocks` or `msg_too_long` for size. Limits (Block Kit reference,
 * https://api.slack.com/reference/block-kit/blocks): at most 50 blocks; section text ≤ 3000 characters, ≤ 10
 * fields of ≤ 2000; header ≤ 150; context ≤ 10 elements; actions ≤ 25 elements; button text ≤ 75 and value ≤
 * 2000; top-level `text` ≤ 40,000 (Slack truncates beyond). Undocumented but measured: Slack refuses a message
 * whose blocks carry about 12,000–13,000 characters of text in all (`msg_blocks_too_long`), so the guard keeps the
 * total under {@link BLOCK_TEXT_BUDGET}. Cuts fall on grapheme boundaries (domain/text/graphemes.ts).
 */
import { truncateGraphemes } from '../domain/text/graphemes.js';

/** Our total block-text budget (characters over every text object of a message), under Slack's ~12,000. */
export const BLOCK_TEXT_BUDGET = 11_500;
/** Slack's documented limits the guard enforces. */
export const GUARD_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  fieldText: 2000,
  fields: 10,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  textWithBlocks: 3000,
  textAlone: 39_000,
} as const;

/** A message after the guard: within limits; `cut` counts the characters removed (0: unchanged). */
export interface GuardedMessage {
  text: string;
  blocks: unknown[] | undefined;
  cut: number;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTextObject = (v: unknown): v is Json & { text: string } => isObj(v) && (v.type === 'mrkdwn' || v.type === 'plain_text') && typeof v.text === 'string';

/** Every text object (`{ type: mrkdwn|plain_text, text }`) inside `value`, depth first. */
function textObjects(value: unknown, out: (Json & { text: string })[] = []): (Json & { text: string })[] {
  if (Array.isArray(value)) for (const v of value) textObjects(v, out);
  else if (isObj(value)) {
    if (isTextObject(value)) out.push(value);
    for (const [k, v] of Object.entries(value)) if (k !== 'text' || !isTextObject(value)) textObjects(v, out);
  }
  return out;
}

/** Total characters of text in `blocks` (what Slack's undocumented block-text limit counts). */
export function blockTextLength(blocks: unknown[] | undefined): number {
  return textObjects(blocks ?? []).reduce((n, t) => n + t.text.length, 0);
}

/** The blocks as plain lines (section texts, fields, context), for a text-only fallback or an uploaded file. */
export function blocksToPlainText(blocks: unknown[] | undefined): string {
  const lines: string[] = [];
  for (const b of blocks ?? []) {
    if (!isObj(b) || b.type === 'actions') continue;
    const texts = textObjects(b).map((t) => t.text);
    if (b.type === 'divider') lines.push('—');
    else if (texts.length) lines.push(texts.join(b.type === 'context' ? ' · ' : '\n'));
  }
  return lines.join('\n');
}

function clampTo(t: Json & { text: string }, max: number, counter: { cut: number }): void {
  if (t.text.length <= max) return;
  const next = truncateGraphemes(t.text, max);
  counter.cut += t.text.length - next.length;
  t.text = next;
}

/** Per-block documented limits, in place on a deep copy. */
function clampBlock(b: Json, counter: { cut: number }): void {
  if (b.type === 'header' && isTextObject(b.text)) clampTo(b.text, GUARD_LIMITS.headerText, counter);
  if (b.type === 'section') {
    if (isTextObject(b.text)) clampTo(b.text, GUARD_LIMITS.sectionText, counter);
    if (Array.isArray(b.fields)) {
      const fields: unknown[] = b.fields.slice(0, GUARD_LIMITS.fields);
      b.fields = fields;
      for (const f of fields) if (isTextObject(f)) clampTo(f, GUARD_LIMITS.fieldText, counter);
    }
  }
  if (b.type === 'context' && Array.isArray(b.elements)) {
    const elements: unknown[] = b.elements.slice(0, GUARD_LIMITS.contextElements);
    b.elements = elements;
    for (const e of elements) if (isTextObject(e)) clampTo(e, GUARD_LIMITS.sectionText, counter);
  }
  if (b.type === 'actions' && Array.isArray(b.elements)) {
    const elements: unknown[] = b.elements.slice(0, GUARD_LIMITS.actionsElements);
    b.elements = elements;
    for (const e of elements) {
      if (!isObj(e)) continue;
      if (isTextObject(e.text)) clampTo(e.text, GUARD_LIMITS.buttonText, counter);
      if (typeof e.value === 'string' && e.value.length > GUARD_LIMITS.buttonValue) e.value = e.value.slice(0, GUARD_LIMITS.buttonValue);
    }
  }
}

/**
 * The largest cap C such that cutting every text longer than C down to C brings the total to at most `budget`
 * ("water filling": short texts such as button labels stay whole, the longest ones give way first).
 */
function waterLevel(lengths: number[], budget: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  let rest = budget;
  for (let i = 0; i < sorted.length; i++) {
    const share = Math.floor(rest / (sorted.length - i));
    if (sorted[i]! > share) return Math.max(1, share);
    rest -= sorted[i]!;
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * Returns `text` and `blocks` within Slack's limits (see the module comment): blocks over 50 are dropped (the
 * 50th says how many), each block's texts are cut to their limits, and when the whole still carries more than
 * `budget` characters the longest texts are cut to a common length. The input is not modified.
 */
export function guardMessage(text: string, blocks: unknown[] | undefined, budget: number = BLOCK_TEXT_BUDGET): GuardedMessage {
  const counter = { cut: 0 };
  if (!blocks || blocks.length === 0) {
    const t = truncateGraphemes(text, GUARD_LIMITS.textAlone);
    return { text: t, blocks: undefined, cut: text.length - t.length };
  }
  let list = structuredClone(blocks).filter(isObj);
  if (list.length > GUARD_LIMITS.blocks) {
    const dropped = list.slice(GUARD_LIMITS.blocks - 1);
    counter.cut += blockTextLength(dropped);
    list = [...list.slice(0, GUARD_LIMITS.blocks - 1), { type: 'context', elements: [{ type: 'mrkdwn', text: `+${dropped.length} more blocks not shown` }] }];
  }
  for (const b of list) clampBlock(b, counter);
  const texts = textObjects(list);
  const total = texts.reduce((n, t) => n + t.text.length, 0);
  if (total > budget) {
    const cap = waterLevel(
      texts.map((t) => t.text.length),
      budget,
    );
    for (const t of texts) clampTo(t, cap, counter);
  }
  // the top-level text is only the notification fallback beside blocks: cutting it loses nothing shown
  return { text: truncateGraphemes(text, GUARD_LIMITS.textWithBlocks), blocks: list, cut: counter.cut };
}
