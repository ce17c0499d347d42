/**
 * Question reading (typos, four languages, negation, unplaced questions) and the whole-system explanation (causes
 * followed across runbooks, the present over the past), on recorded findings: pure functions, no database.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Diagnosis, Finding } from '../../runbooks/define.js';
import { RUNBOOKS } from '../../runbooks/index.js';
import { explain } from '../../bot/assistant/explain.js';
import { readQuestion } from '../../bot/assistant/question.js';
import { indicatedCauses } from '../../bot/assistant/tools.js';

const topics = (q: string) => [...readQuestion(q).topics.keys()].sort();

test('typos, synonyms and other languages reach the right topic', () => {
  assert.ok(topics('emials stuk in sendng').includes('sending'), 'typos and a transposition');
  assert.ok(topics('the box is swapping').includes('resources'));
  assert.ok(topics('why is the 2am job still going').includes('pipeline'));
  assert.ok(topics("Pourquoi aucun courriel n'est parti aujourd'hui ?").includes('sending'), 'French');
  assert.ok(topics('Warum wurden heute keine E-Mails verschickt?').includes('sending'), 'German');
  assert.ok(topics('¿Por qué fallan los pagos?').includes('payments'), 'Spanish');
  assert.ok(topics('Zahlungsfehler seit gestern').includes('payments'), 'a German compound');
  assert.equal([...readQuestion('is yelp down?').providers], ['yelp']);
  assert.ok(readQuestion('is everything ok?').unplaced, 'nothing to place: the whole-system picture');
  assert.not.ok(readQuestion('emials stuk').exact, 'a typo guess is not exact');
});

test('a negated word is the complaint: it outweighs the context', () => {
  const r = readQuestion('customer paid but never got the report');
  assert.ok((r.topics.get('reports') ?? 0) > (r.topics.get('payments') ?? 0), JSON.stringify([...r.topics]));
});

/** Diagnoses of every runbook from recorded findings (`runbook/diagnostic` → finding; the rest read ok). */
function diagnoses(recorded: Record<string, Finding>): Diagnosis[] {
  return RUNBOOKS.map((rb) => {
    const results = rb.diagnostics.map((d) => ({ id: d.id, title: d.title, finding: recorded[`${rb.id}/${d.id}`] ?? { status: 'ok' as const, summary: 'ok', evidence: {} }, durationMs: 0 }));
    return { runbook: rb.id, title: rb.title, results, rootCauses: indicatedCauses(rb, Object.fromEntries(results.map((r) => [r.id, r.finding]))) };
  });
}

const sendgridRefused: Record<string, Finding> = {
  'external-apis/integrations': { status: 'problem', summary: 'key rejected: SendGrid', evidence: { authRejected: ['sendgrid'], unreachable: [], rateLimited: [], quotaExhausted: [], failing: [] } },
  'email-delivery/sendgrid-config': { status: 'problem', summary: 'key refused', evidence: { keyProblem: true } },
  'payment-issues/report-delivery': { status: 'problem', summary: '1 paid purchase without its report', evidence: {} },
  'pipeline-not-processing/targeting-quota': { status: 'problem', summary: 'no quota left', evidence: {} },
};

test('follows the fault across runbooks: the upstream cause is named, its effects listed, the unrelated apart', () => {
  const ex = explain(diagnoses(sendgridRefused), readQuestion("buyers aren't getting their reports"));
  assert.is(ex.best?.id, 'sendgrid-api-key');
  assert.ok(ex.effects.some((e) => e.id === 'report-not-sent'), ex.effects.map((e) => e.id).join());
  assert.ok(ex.unrelated.some((e) => e.id === 'no-targeting-quota'));
  const leads = explain(diagnoses(sendgridRefused), readQuestion('no new leads today'));
  assert.is(leads.best?.id, 'no-targeting-quota', 'the question decides which root is asked about');
});

test('the present outranks the past: a live 503 beats key refusals in the last hour', () => {
  const ex = explain(
    diagnoses({
      'external-apis/integrations': { status: 'warn', summary: 'erroring: Yelp (503)', evidence: { providers: { yelp: { status: 503 } }, failing: ['yelp'], authRejected: [], unreachable: [], rateLimited: [], quotaExhausted: [] } },
      'external-apis/api-metrics': { status: 'problem', summary: 'Yelp: 4 auth errors', evidence: { providers: { yelp: { authErrors: 4, calls: 4 } } } },
    }),
    readQuestion('is yelp down?'),
  );
  assert.is(ex.best?.id, 'yelp-unavailable');
  assert.ok(ex.best!.present);
  assert.ok(ex.unrelated.some((c) => c.id === 'yelp-api-key' && !c.present), 'the past is mentioned apart, not as the cause');
});

test('an open breaker explains its provider looking down only while the provider itself answers', () => {
  const rec: Record<string, Finding> = {
    'external-apis/breaker-states': { status: 'problem', summary: 'Breaker open: OpenAI', evidence: { open: ['openai'], halfOpen: [] } },
    'assessment-failures/openai': { status: 'problem', summary: 'OpenAI is unavailable', evidence: { unavailable: true } },
  };
  assert.is(explain(diagnoses(rec), readQuestion('no emails went out, personalization stalls')).best?.id, 'breaker-open');
  const down = { ...rec, 'external-apis/integrations': { status: 'warn' as const, summary: 'erroring: OpenAI (500)', evidence: { providers: { openai: { status: 500 } }, failing: ['openai'] } } };
  assert.is(explain(diagnoses(down), readQuestion('no emails went out, personalization stalls')).best?.id, 'openai-unavailable', 'the outage opened the breaker');
});

test('a healthy system: no cause, whatever the alarm in the question', () => {
  const ex = explain(diagnoses({}), readQuestion('URGENT the pipeline is down!!'));
  assert.is(ex.best, undefined);
});

test.run();
