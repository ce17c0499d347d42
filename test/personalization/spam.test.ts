import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSpamRules, spamCheck, spamRules } from '../../domain/personalization/spam.js';
import { checkSubject, chooseSubject, fitSubject, SUBJECT_IDEAL, SUBJECT_MAX } from '../../domain/personalization/subject.js';

const rules = spamRules();
const SUBJECT = 'Website notes for your bakery';
const BODY =
  'Hello team,\n\nWe looked at the mobile version of your website and wrote down a few notes about its speed and search visibility. ' +
  'The report lists each change with its expected effect. Reply to this email and we will send it over.\n\nLeadFactory audits';

const t = suite('spam checker driven by spam_rules.json (pure)');

t('a plain draft scores 0 with no reasons', () => {
  assert.equal(spamCheck(SUBJECT, BODY), { score: 0, reasons: [], hits: [] });
});

for (const kind of ['keywords', 'patterns'] as const) {
  for (const rule of rules[kind]) {
    t(`${kind} rule ${rule.id} adds its ${rule.weight} points with a reason`, () => {
      const r = spamCheck(SUBJECT, `${BODY}\n${rule.example}`);
      const id = `${kind === 'keywords' ? 'keyword' : 'pattern'}:${rule.id}`;
      assert.equal(r.hits.map((h) => [h.rule, h.points]), [[id, rule.weight]], `only ${id} fires for ${JSON.stringify(rule.example)}`);
      assert.is(r.score, rule.weight);
      assert.ok(r.reasons[0]!.startsWith(`${id}: `) && r.reasons[0]!.endsWith(`(+${rule.weight})`), r.reasons[0]);
    });
  }
}

t('keywords are case-insensitive and count every match; patterns are case-sensitive', () => {
  const free = rules.keywords.find((k) => k.id === 'free')!;
  assert.is(spamCheck(SUBJECT, `${BODY}\nFREE trial, free setup`).hits.find((h) => h.rule === 'keyword:free')!.points, 2 * free.weight);
  assert.is(spamCheck(SUBJECT, `${BODY}\nRead the memo.`).score, 0, 'lower-case word is no shouting');
});

t('capitals ratio over the limit adds its points', () => {
  const shouting = 'WE LOOKED AT YOUR WEBSITE AND FOUND PROBLEMS WITH IT';
  const r = spamCheck(SUBJECT, shouting);
  const hit = r.hits.find((h) => h.rule === 'capitals')!;
  assert.is(hit.points, rules.capitals.weight);
  assert.match(hit.reason, /capitals ratio 0\.\d\d > 0\.3/);
});

t('exclamation marks beyond the limits add points per extra one', () => {
  const e = rules.exclamations;
  const subj = spamCheck('Quick wins! Really! Now!', BODY).hits.find((h) => h.rule === 'exclamations:subject')!;
  assert.is(subj.points, (3 - e.subjectMax) * e.subjectWeightPerExtra);
  const body = spamCheck(SUBJECT, `${BODY}\nOne! Two! Three! Four! Five!`).hits.find((h) => h.rule === 'exclamations:body')!;
  assert.is(body.points, (5 - e.bodyMax) * e.bodyWeightPerExtra);
});

t('links beyond the limit add points per extra link', () => {
  const links = Array.from({ length: 5 }, (_, i) => `https://example.com/${i}`).join('\n');
  const hit = spamCheck(SUBJECT, `${BODY}\n${links}`).hits.find((h) => h.rule === 'links')!;
  assert.is(hit.points, (5 - rules.links.max) * rules.links.weightPerExtra);
});

t('length rules: subject over ideal or max; body empty, too short (shorter than bodyMin) or too long', () => {
  const l = rules.length;
  const only = (s: string, b: string) => spamCheck(s, b).hits.map((h) => [h.rule, h.points]);
  assert.equal(only('a'.repeat(l.subjectIdeal + 1), BODY), [['length:subject_ideal', l.subjectIdealWeight]]);
  assert.equal(only('a'.repeat(l.subjectMax + 1), BODY), [['length:subject_max', l.subjectMaxWeight]]);
  assert.equal(only(SUBJECT, '   '), [['length:empty', l.emptyWeight]]);
  assert.equal(only(SUBJECT, 'Hello, see our notes.'), [['length:body_min', l.bodyMinWeight]]);
  assert.equal(only(SUBJECT, 'x'.repeat(l.bodyMin)), [], 'LeadFactory v1 fired this rule on long bodies; at bodyMin it is fine');
  assert.equal(only(SUBJECT, 'notes and more notes '.repeat(Math.ceil(l.bodyMax / 20))), [['length:body_max', l.bodyMaxWeight]]);
});

t('the score is capped at 100', () => {
  const spam = rules.keywords.map((k) => k.example).join(' ');
  const r = spamCheck('FREE!!! ACT NOW!!!', spam);
  assert.is(r.score, 100);
  assert.ok(r.hits.reduce((s, h) => s + h.points, 0) > 100);
});

t('a bad rules file is refused naming the field or rule', () => {
  assert.throws(() => parseSpamRules({ ...rules, capitals: { ...rules.capitals, maxRatio: 2 } }), /capitals\.maxRatio/);
  assert.throws(() => parseSpamRules({ ...rules, keywords: [{ id: 'bad', pattern: '(', weight: 1, example: 'x' }] }), /rule bad: bad pattern/);
});

t.run();

const s = suite('subject rules (pure)');

s('checkSubject: ≤ 60 ideal, 78 max, at most one "!"', () => {
  assert.equal(checkSubject('A few quick wins for your website'), []);
  assert.equal(checkSubject('a'.repeat(SUBJECT_IDEAL + 1)), [`subject 61 chars > ${SUBJECT_IDEAL} (ideal)`]);
  assert.equal(checkSubject('a'.repeat(SUBJECT_MAX + 1)), [`subject 79 chars > ${SUBJECT_MAX} (maximum)`]);
  assert.equal(checkSubject('Wow! Great!'), ['2 "!" in the subject (at most 1)']);
});

s('fitSubject keeps the first "!", cleans whitespace and cuts at a word boundary', () => {
  assert.is(fitSubject('Yahoo!! Bistro!  tips'), 'Yahoo! Bistro tips');
  const long = fitSubject('A few quick wins for The Extraordinarily Long Named Family Restaurant and Bar website');
  assert.ok(long.length <= SUBJECT_IDEAL, long);
  assert.ok(long.endsWith('…'));
  assert.equal(checkSubject(long), []);
});

s('chooseSubject takes the first candidate that fits', () => {
  assert.is(chooseSubject(['x'.repeat(70), 'short one']), 'short one');
  assert.ok(chooseSubject(['y '.repeat(50)]).length <= SUBJECT_IDEAL);
});

s.run();
