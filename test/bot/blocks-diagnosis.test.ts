/** Block Kit for diagnoses stays within Slack's limits and carries well-formed remediation buttons. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { diagnosisBlocks, splitSections } from '../../bot/render/diagnosis-blocks.js';
import type { DiagnosisResult } from '../../runbooks/define.js';
import { parseButtonValue, replaceActionRow } from '../../bot/listeners/actions/remediate.js';
import { defineRunbook, type Diagnosis } from '../../runbooks/define.js';
import type { RunbookContext } from '../../runbooks/context.js';

const test = suite('diagnosis Block Kit');

function result(n: number, summaryLength: number, withCause = true): DiagnosisResult {
  const runbook = defineRunbook<RunbookContext>({
    id: 'big',
    title: 'A big runbook',
    symptoms: ['many checks'],
    diagnostics: Array.from({ length: n }, (_, i) => ({ id: `d${i}`, title: `Check ${i}`, run: async () => ({ status: 'ok' as const, summary: '' }) })),
    rootCauses: [{ id: 'c', title: 'Cause <with> & marks', indicatedBy: () => true, remediations: ['fix'] }],
    remediations: [
      {
        id: 'fix',
        title: 'Fix the thing',
        risk: 'destructive',
        requiredRole: 'admin',
        confirmation: 'Really fix the thing? It drops the cache.',
        idempotencyKey: () => 'fix',
        recheck: 'd0',
        defaultInput: () => ({ value: 'x'.repeat(3000) }), // too big for a button value
        run: async () => ({ summary: 'fixed' }),
      },
    ],
  });
  const diagnosis: Diagnosis = {
    runbook: 'big',
    title: runbook.title,
    results: runbook.diagnostics.map((d, i) => ({ id: d.id, title: d.title, durationMs: 1, finding: { status: i % 2 ? 'warn' : 'problem', summary: 'y'.repeat(summaryLength), evidence: { n: i, list: [1, 2, 3] } } })),
    rootCauses: withCause ? [{ id: 'c', title: 'Cause <with> & marks', remediations: ['fix'] }] : [],
  };
  return { kind: 'diagnosis', diagnosis, runbook, nonce: 'nonce-1', issuedAt: new Date('2026-11-29T12:00:00Z'), full: true };
}

test('at most 50 blocks; overflow keeps the full text for a file upload; sections ≤ 3000 chars', () => {
  const msg = diagnosisBlocks(result(80, 200));
  assert.ok(msg.blocks.length <= 50, `${msg.blocks.length} blocks`);
  assert.type(msg.overflowText, 'string');
  assert.match(msg.overflowText!, /Check 79/);
  for (const b of msg.blocks) {
    const t = (b as { text?: { text: string } }).text?.text;
    if (t) assert.ok(t.length <= 3000);
  }
  assert.ok(msg.text.length <= 3000);
});

test('a long finding is split over sections of ≤ 3000 chars instead of being cut', () => {
  const msg = diagnosisBlocks(result(1, 7000));
  const sections = msg.blocks.filter((b) => b.type === 'section') as { text: { text: string } }[];
  const total = sections.reduce((n, s) => n + s.text.text.length, 0);
  assert.ok(total >= 7000);
  for (const s of sections) assert.ok(s.text.text.length <= 3000);
  assert.is(msg.overflowText, undefined);
  assert.is(splitSections('a\n'.repeat(4000)).length, 3);
});

test('buttons: action id, confirm dialog naming the effect and role, danger style, value ≤ 2000 chars and readable', () => {
  const msg = diagnosisBlocks(result(2, 50));
  const actions = msg.blocks.find((b) => b.type === 'actions') as { block_id: string; elements: { action_id: string; value: string; style?: string; confirm: { title: { text: string }; text: { text: string } } }[] };
  assert.ok(actions);
  const [button] = actions.elements;
  assert.is(button!.action_id, 'remediate:big/fix');
  assert.is(button!.style, 'danger');
  assert.match(button!.confirm.text.text, /drops the cache.*admin role/);
  assert.ok(button!.value.length <= 2000);
  const value = parseButtonValue(button!.value)!;
  assert.equal({ r: value.r, m: value.m, n: value.n, t: value.t }, { r: 'big', m: 'fix', n: 'nonce-1', t: Date.parse('2026-11-29T12:00:00Z') });
  assert.match(JSON.stringify(msg.blocks), /Cause &lt;with&gt; &amp; marks/);
  const replaced = replaceActionRow(msg.blocks, actions.block_id, 'done by <@U1>');
  assert.not.ok(replaced.some((b) => b.type === 'actions'));
  assert.is(replaced.length, msg.blocks.length);
  assert.is(parseButtonValue('not json'), undefined);
});

test('no root cause: says so and offers no button', () => {
  const msg = diagnosisBlocks(result(2, 50, false));
  assert.not.ok(msg.blocks.some((b) => b.type === 'actions'));
  assert.match(JSON.stringify(msg.blocks), /none indicated/);
});

test.run();
