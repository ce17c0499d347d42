/**
 * Cutting text on grapheme boundaries (domain/text/graphemes.ts), the Slack size guard (alerts/slack-guard.ts) and
 * the repeated-log collapser (domain/log-collapse.ts).
 */
import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { graphemePrefix, truncateGraphemes } from '../../domain/text/graphemes.js';
import { BLOCK_TEXT_BUDGET, blockTextLength, guardMessage } from '../../alerts/slack-guard.js';
import { createRepeatCollapser } from '../../domain/log-collapse.js';
import { createLogger } from '../../domain/logger.js';

const test = suite('text cutting, Slack size guard, log collapse');
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

test('cuts never split an emoji, a ZWJ sequence, a flag or a combining mark', () => {
  const family = '👩‍👩‍👧‍👦'; // 11 code units
  const s = `ab${family}cd`;
  for (let max = 0; max <= s.length; max++) {
    const p = graphemePrefix(s, max);
    assert.ok(p.length <= max, `≤ ${max}`);
    assert.ok(s.startsWith(p));
    assert.ok(!LONE_SURROGATE.test(p) && !p.endsWith('\u200D'), `whole graphemes at ${max}: ${JSON.stringify(p)}`);
  }
  assert.is(graphemePrefix(s, 12), 'ab');
  assert.is(graphemePrefix(s, 13), `ab${family}`);
  assert.is(truncateGraphemes('🇩🇪🇫🇷', 5), '🇩🇪…', 'a flag is two regional indicators, kept together');
  assert.is(truncateGraphemes('🇩🇪🇫🇷', 4), '…');
  assert.is(truncateGraphemes('e\u0301e\u0301e\u0301', 4), 'e\u0301…');
  assert.is(truncateGraphemes('short', 10), 'short');
});

test('guard: ≤ 50 blocks, section ≤ 3000, header ≤ 150, total block text under the budget, emoji intact', () => {
  const emojiText = '🧑🏽‍💻'.repeat(1000); // 7 code units each
  const blocks = [
    { type: 'header', text: { type: 'plain_text', text: 'H'.repeat(400) } },
    ...Array.from({ length: 60 }, () => ({ type: 'section', text: { type: 'mrkdwn', text: emojiText } })),
  ];
  const g = guardMessage('t'.repeat(5000), blocks);
  assert.ok(g.blocks!.length <= 50);
  assert.ok(blockTextLength(g.blocks) <= BLOCK_TEXT_BUDGET, `${blockTextLength(g.blocks)}`);
  assert.ok(!LONE_SURROGATE.test(JSON.stringify(g.blocks)));
  const header = g.blocks![0] as { text: { text: string } };
  assert.ok(header.text.text.length <= 150);
  assert.ok(g.text.length <= 3000);
  assert.ok(g.cut > 0);
  assert.is((blocks[1] as { text: { text: string } }).text.text, emojiText, 'input untouched');
});

test('guard: short texts (buttons, context) stay whole while the longest give way; a small message is unchanged', () => {
  const blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: 'a'.repeat(3000) } },
    { type: 'section', text: { type: 'mrkdwn', text: 'b'.repeat(3000) } },
    { type: 'section', text: { type: 'mrkdwn', text: 'c'.repeat(3000) } },
    { type: 'section', text: { type: 'mrkdwn', text: 'd'.repeat(3000) } },
    { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Reset breaker' }, value: 'v' }] },
  ];
  const g = guardMessage('x', blocks, 10_000);
  assert.ok(blockTextLength(g.blocks) <= 10_000);
  assert.is(JSON.stringify(g.blocks).includes('Reset breaker'), true);
  const small = guardMessage('hi', [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }]);
  assert.is(small.cut, 0);
  assert.equal(small.blocks, [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }]);
});

test('collapser: the first occurrence at once, repeats counted and written once per window with the count', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger('info', {}, sink);
  const c = createRepeatCollapser(logger, { windowMs: 60_000 });
  for (let i = 0; i < 410; i++) c.log('error', 'tick', { err: 'connect ECONNREFUSED' }, 'slack poster tick failed');
  c.log('error', 'other', { err: 'x' }, 'another failure');
  c.flush();
  return new Promise<void>((resolve) => setImmediate(() => {
    const ticks = lines.filter((l) => String(l.msg).startsWith('slack poster tick failed'));
    assert.is(ticks.length, 2, 'one line, then one summary');
    assert.is(ticks[1]!.repeated, 409);
    assert.is(lines.filter((l) => l.msg === 'another failure').length, 1);
    resolve();
  }));
});

test.run();
