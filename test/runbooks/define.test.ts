import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defineRunbook, diagnose, renderDiagnosisText, type Runbook } from '../../runbooks/define.js';

type Ctx = { queueDepth: number };
const engine = suite('runbook engine');

const sample = (): Runbook<Ctx> => ({
  id: 'sample',
  title: 'Sample runbook',
  symptoms: ['nothing happens'],
  diagnostics: [
    { id: 'queue', title: 'Queue depth', run: async (c) => ({ status: c.queueDepth > 10 ? 'problem' : 'ok', summary: `${c.queueDepth} queued`, evidence: { depth: c.queueDepth } }) },
    { id: 'slow', title: 'Slow check', timeoutMs: 30, run: () => new Promise(() => {}) },
    { id: 'broken', title: 'Broken check', run: async () => { throw new Error('connection refused'); } },
  ],
  rootCauses: [
    { id: 'backlog', title: 'Queue backlog', indicatedBy: (f) => f.queue?.status === 'problem', remediations: ['drain'] },
    { id: 'never', title: 'Never indicated', indicatedBy: () => false, remediations: [] },
  ],
  remediations: [
    { id: 'drain', title: 'Drain the queue', risk: 'write', requiredRole: 'operator', confirmation: 'Drains the queue now.', idempotencyKey: () => 'drain', recheck: 'queue', run: async () => ({ summary: 'drained' }) },
  ],
});

engine('diagnostics run concurrently under timeouts; failures and timeouts become error findings; root causes match', async () => {
  const rb = defineRunbook(sample());
  const t0 = Date.now();
  const d = await diagnose(rb, { queueDepth: 42 });
  assert.ok(Date.now() - t0 < 1000, 'the hung diagnostic did not hold the others');
  const by = Object.fromEntries(d.results.map((r) => [r.id, r.finding]));
  assert.equal(by.queue, { status: 'problem', summary: '42 queued', evidence: { depth: 42 } });
  assert.equal(by.slow, { status: 'error', summary: 'timed out after 30 ms' });
  assert.is(by.broken!.status, 'error');
  assert.match(by.broken!.summary, 'connection refused');
  assert.equal(d.rootCauses, [{ id: 'backlog', title: 'Queue backlog', remediations: ['drain'] }]);
  const text = renderDiagnosisText(d);
  assert.match(text, '[PROBLEM] Queue depth: 42 queued');
  assert.match(text, 'Root cause: Queue backlog — fixes: drain');
  const healthy = await diagnose(rb, { queueDepth: 1 });
  assert.equal(healthy.rootCauses, []);
});

engine('fail closed: a root-cause check that throws is logged and shown as an error finding, not "not indicated"', async () => {
  const rb = sample();
  rb.rootCauses.push({ id: 'fragile', title: 'Fragile cause', indicatedBy: (f) => f.missing!.status === 'error', remediations: [] });
  const logged: unknown[] = [];
  const d = await diagnose(defineRunbook(rb), { queueDepth: 1 }, { logger: { error: (obj: unknown) => void logged.push(obj) } });
  const failed = d.results.find((r) => r.id === 'root-cause-check:fragile');
  assert.ok(failed, 'an error finding for the check');
  assert.is(failed!.finding.status, 'error');
  assert.match(failed!.finding.summary, 'Fragile cause');
  assert.equal(d.rootCauses, []);
  assert.is(logged.length, 1);
  assert.match(renderDiagnosisText(d), '[ERROR] Root-cause check: Fragile cause');
});

engine('defineRunbook refuses dangling and duplicate ids, naming them', () => {
  const bad = sample();
  bad.rootCauses[0]!.remediations = ['nope'];
  assert.throws(() => defineRunbook(bad), /unknown remediation "nope"/);
  const bad2 = sample();
  bad2.remediations[0]!.recheck = 'missing';
  assert.throws(() => defineRunbook(bad2), /re-checks unknown diagnostic "missing"/);
  const bad3 = sample();
  bad3.diagnostics.push({ ...bad3.diagnostics[0]! });
  assert.throws(() => defineRunbook(bad3), /duplicate id "queue"/);
});

engine.run();
