/**
 * Log lines: email addresses masked everywhere in a line (message, fields, error text such as a driver's SQL); the
 * request/run id of the current log context on every line; no key written twice; a repeated error written once.
 */
import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withLogContext } from '../../domain/log-context.js';
import { maskEmails } from '../../domain/log-mask.js';
import { createLogger } from '../../domain/logger.js';

const test = suite('logger');

function capture(): { sink: Writable; lines: () => string[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { sink, lines: () => out };
}

test('maskEmails keeps the first character and the domain', () => {
  assert.is(maskEmails('to jane.doe+x@mail.example.com, bob@b.io'), 'to j***@mail.example.com, b***@b.io');
  assert.is(maskEmails('<@U123ABC> postgres://127.0.0.1'), '<@U123ABC> postgres://127.0.0.1');
});

test('a driver error quoting recipient addresses is logged masked; context ids on the line; no duplicate key', async () => {
  const { sink, lines } = capture();
  const logger = createLogger('silent', {}, sink).child({ job: 'email-batch' });
  withLogContext({ requestId: 'req-1', runId: 42 }, () => {
    logger.error({ job: 'email-batch', err: new Error("insert into emails (to_email) values ('jane.doe@example.com')") }, 'send failed for alice@example.org');
  });
  await new Promise((r) => setImmediate(r));
  const line = lines()[0]!;
  assert.ok(line, 'one line written');
  assert.not.match(line, 'jane.doe@example.com');
  assert.not.match(line, 'alice@example.org');
  assert.match(line, 'j***@example.com');
  assert.match(line, 'a***@example.org');
  assert.match(line, '"requestId":"req-1"');
  assert.match(line, '"runId":42');
  assert.is(line.split('"job":').length - 1, 1, `one job key: ${line}`);
});

test('a worker line names its job and run once: the child binding wins over the log context', () => {
  const lines: string[] = [];
  const logger = createLogger('info', { thread: 'worker' }, undefined, { write: (c: string) => lines.push(c) });
  withLogContext({ job: 'daily-pipeline', runId: 'a1b2c3' }, () => {
    logger.info('before the run row exists');
    logger.child({ job: 'daily-pipeline', runId: 7 }).info('pipeline run started');
  });
  const count = (line: string, key: string) => line.split(`"${key}":`).length - 1;
  assert.equal(lines.map((l) => [count(l, 'job'), count(l, 'runId')]), [[1, 1], [1, 1]]);
  assert.match(lines[0]!, /"runId":"a1b2c3"/);
  assert.match(lines[1]!, /"runId":7/);
});

test('the same error repeated is written once (then counted)', async () => {
  const { sink, lines } = capture();
  const logger = createLogger('silent', {}, sink);
  for (let i = 0; i < 5; i++) logger.error({ err: 'connect ECONNREFUSED' }, 'health check failed');
  logger.error({ err: 'other' }, 'health check failed');
  await new Promise((r) => setImmediate(r));
  assert.is(lines().length, 2, lines().join('\n'));
});

test.run();
