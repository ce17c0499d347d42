import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseJsonBody } from '../../domain/providers/http-errors.js';
import { describeUnstorable, hasUnstorable, rawBodyText, rawJson, sanitizeDeep, sanitizeText } from '../../domain/sanitize.js';

const t = suite('sanitize: text from outside made storable');

t('U+0000 and lone surrogates become U+FFFD; valid pairs and other text stay', () => {
  assert.is(sanitizeText('550 mailbox full\u0000'), '550 mailbox full\uFFFD');
  assert.is(sanitizeText('a\uD800b'), 'a\uFFFDb');
  assert.is(sanitizeText('a\uDC00b'), 'a\uFFFDb');
  assert.is(sanitizeText('x\uD83D'), 'x\uFFFD', 'a high surrogate at the end');
  assert.is(sanitizeText('pizza 🍕 Zoë'), 'pizza 🍕 Zoë');
  assert.ok(!hasUnstorable('🍕'));
  assert.ok(hasUnstorable('\u0000'));
  assert.is(describeUnstorable('ab\u0000c\uD800'), 'U+0000 at 2, lone surrogate U+D800 at 4');
});

t('sanitizeDeep: strings and keys at any depth, paths reported, untouched values keep their identity', () => {
  const clean = { a: [1, 'ok', { b: 'fine' }], c: null };
  const same = sanitizeDeep(clean);
  assert.is(same.value, clean);
  assert.equal(same.changes, []);
  const dirty = { event: 'bounce', reason: 'bad\u0000', nested: [{ 'k\u0000': 'v\uDC01' }] };
  const r = sanitizeDeep(dirty);
  assert.equal(r.value, { event: 'bounce', reason: 'bad\uFFFD', nested: [{ 'k\uFFFD': 'v\uFFFD' }] });
  assert.equal(r.changes, ['$.reason', '$.nested[0].k\uFFFD()', '$.nested[0].k\uFFFD']);
  assert.is(dirty.reason, 'bad\u0000', 'the original is not changed');
});

t('rawJson keeps the original losslessly as storable ASCII escapes; rawBodyText falls back to base64', () => {
  const original = { name: 'Zo\u0000\uD800' };
  const text = rawJson(original);
  assert.is(text, '{"name":"Zo\\u0000\\ud800"}');
  assert.ok(!hasUnstorable(text));
  assert.equal(JSON.parse(text), original);
  assert.is(rawBodyText(Buffer.from('{"a":1}')), '{"a":1}');
  assert.is(rawBodyText(Buffer.from([0x7b, 0xff, 0x00])), `base64:${Buffer.from([0x7b, 0xff, 0x00]).toString('base64')}`);
});

t('provider bodies (Yelp, PageSpeed, OpenAI, SendGrid adapters) are parsed storable', () => {
  const body = parseJsonBody({ provider: 'yelp', operation: 'search' }, 200, '{"businesses":[{"name":"Joe\\u0000s \\ud83d Pizza"}]}');
  assert.equal(body, { businesses: [{ name: 'Joe\uFFFDs \uFFFD Pizza' }] });
});

t.run();
