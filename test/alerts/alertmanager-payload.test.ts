/**
 * Alertmanager webhook payloads (v4): the schema, the mapping to alert observations and the bearer check, on the
 * project's own and the recorded payloads (no database). The HTTP intake and the end-to-end path are in
 * alertmanager.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AlertmanagerPayloadSchema,
  alertRunbook,
  labelsFingerprint,
  mapSeverity,
  parseAlertmanagerPayload,
  toObservations,
  type AlertmanagerPayload,
} from '../../alerts/alertmanager.js';
import { alertIdentity } from '../../alerts/source.js';
import { bearerMatches } from '../../bot/webhooks/alertmanager.js';
import { HAVE_REAL_FIXTURES, NO_FIXTURES, realFixture } from '../helpers/fixtures.js';
import { testIf } from '../helpers/preconditions.js';

const SHARED = realFixture('alertmanager');
const OWN = resolve(import.meta.dirname, '../fixtures/alertmanager');
const TWELVE = 'webhook-v4.firing.12-alerts.prometheus-msteams.json';
const MIXED = 'webhook-v4.firing-and-resolved-mixed.bougou-adapter.json';
const TOKEN = 'am-test-token-0123456789';

const raw = (dir: string, name: string) => readFileSync(`${dir}/${name}`, 'utf8');
const payloadOf = (text: string): AlertmanagerPayload => {
  const r = parseAlertmanagerPayload(JSON.parse(text));
  if (!r.ok) throw new Error(r.error);
  return r.payload;
};

// ---------------------------------------------------------------------------------------------------------------
// Parsing and mapping (no database)
// ---------------------------------------------------------------------------------------------------------------
const parse = suite('alertmanager: v4 payload schema and toObservations');

parse("the project's own recorded payloads parse and map", () => {
  const files = readdirSync(OWN).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 2, 'own fixtures present');
  for (const f of files) {
    const r = parseAlertmanagerPayload(JSON.parse(raw(OWN, f)));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : r.error}`);
    if (r.ok) assert.is(toObservations(r.payload).length, r.payload.alerts.length, f);
  }
});

const withShared = testIf(parse, HAVE_REAL_FIXTURES, NO_FIXTURES);

withShared('every recorded Alertmanager payload parses and maps one observation per alert', () => {
  const files = readdirSync(SHARED).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 8, `recorded payloads: ${files.length}`);
  for (const f of files) {
    const r = parseAlertmanagerPayload(JSON.parse(raw(SHARED, f)));
    assert.ok(r.ok, `${f}: ${r.ok ? '' : r.error}`);
    if (!r.ok) continue;
    const obs = toObservations(r.payload, new Date('2026-01-01T00:00:00Z'));
    assert.is(obs.length, r.payload.alerts.length, f);
    assert.is(new Set(obs.map((o) => o.fingerprint)).size, obs.length, `${f}: one fingerprint per alert`);
    for (const o of obs) {
      assert.is(o.source, 'alertmanager');
      assert.is(o.groupKey, r.payload.groupKey);
      assert.ok(['critical', 'warning', 'info'].includes(o.severity));
      assert.ok(!Number.isNaN(o.startsAt.getTime()) && o.startsAt.getUTCFullYear() > 2000, `${f}: startsAt`);
    }
    // the recorded files say in their name whether they fire or resolve
    if (f.includes('.firing.')) assert.ok(obs.every((o) => o.status === 'firing'), `${f}: all firing`);
    if (f.includes('.resolved.')) assert.ok(obs.every((o) => o.status === 'resolved'), `${f}: all resolved`);
  }
});

withShared('recorded details: a firing alert keeps no endsAt (AM resolve-timeout guess); zero endsAt on a resolved alert is unset; "major" is critical', () => {
  const bot = toObservations(payloadOf(raw(SHARED, 'webhook-v4.firing.alertmanager-bot.json')), new Date('2026-01-01T00:00:00Z'));
  assert.is(bot[0]!.status, 'firing', 'own status, though endsAt (2018) is past');
  assert.is(bot[0]!.endsAt, undefined);
  assert.is(bot[0]!.name, 'Fire');
  assert.is(bot[0]!.severity, 'critical');
  const botResolved = toObservations(payloadOf(raw(SHARED, 'webhook-v4.resolved.alertmanager-bot.json')));
  assert.is(botResolved[0]!.fingerprint, bot[0]!.fingerprint, 'the same alert (label fingerprint) fires and resolves');
  assert.is(botResolved[0]!.endsAt?.toISOString(), '2018-11-04T21:48:13.283Z');
  const resolved = toObservations(payloadOf(raw(SHARED, 'webhook-v4.resolved.3-alerts.alertmonitor.json')));
  assert.ok(resolved.every((o) => o.status === 'resolved' && o.endsAt === undefined && o.severity === 'critical'));
  const firing = toObservations(payloadOf(raw(SHARED, 'webhook-v4.firing.3-alerts.alertmonitor.json')));
  assert.equal(firing.map((o) => o.fingerprint), resolved.map((o) => o.fingerprint), 'firing and resolved deliveries name the same alerts');
});

parse('12 alerts in one group: 12 firing observations, distinct fingerprints, the group key, severity default warning', () => {
  const p = payloadOf(raw(OWN, TWELVE));
  assert.is(p.truncatedAlerts, 0, 'absent truncatedAlerts defaults to 0');
  const obs = toObservations(p);
  assert.is(obs.length, 12);
  assert.is(new Set(obs.map((o) => o.fingerprint)).size, 12);
  assert.ok(obs.every((o) => o.status === 'firing' && o.groupKey === '{}:{alertname="high_memory_load"}' && o.severity === 'warning'));
  assert.equal(obs.slice(0, 3).map((o) => o.name), ['high_memory_load', 'high_memory_load2', 'high_memory_load3']);
  assert.is(obs[0]!.startsAt.toISOString(), '2018-03-07T11:33:21.873Z', 'nanoseconds and offset parsed');
  assert.is(obs[0]!.annotations.summary, 'Server High Memory usage');
  assert.is(obs[0]!.fingerprint, alertIdentity('high_memory_load', {}), 'the identity: name + labels, whoever evaluated it');
});

parse('mixed firing/resolved group under a top-level "firing": only the resolved alert is resolved', () => {
  const p = payloadOf(raw(OWN, MIXED));
  assert.is(p.status, 'firing');
  const obs = toObservations(p);
  assert.equal(obs.map((o) => o.status), ['firing', 'resolved', 'firing', 'firing']);
  assert.equal(obs.map((o) => o.severity), ['warning', 'warning', 'critical', 'info']);
  assert.is(obs[1]!.endsAt?.toISOString(), '2021-03-30T13:17:50.814Z', 'resolved alert keeps its endsAt');
  assert.ok(obs.filter((o) => o.status === 'firing').every((o) => o.endsAt === undefined), 'zero endsAt is unset');
  // the relay sent one constant fingerprint for four different label sets: the identity never uses it
  assert.is(new Set(obs.map((o) => o.fingerprint)).size, 4, 'four label sets, four identities');
  assert.ok(obs.every((o, i) => o.fingerprint === alertIdentity(o.name, p.alerts[i]!.labels)));
});

parse("the payload's fingerprint does not decide identity: name + sorted labels do (issue #14)", () => {
  const p = payloadOf(raw(OWN, MIXED));
  const single = { ...p, alerts: [p.alerts[0]!, { ...p.alerts[1]!, fingerprint: 'abcdef0123456789' }] };
  const obs = toObservations(single);
  assert.is(obs[1]!.fingerprint, alertIdentity(obs[1]!.name, p.alerts[1]!.labels));
  assert.is.not(obs[1]!.fingerprint, 'abcdef0123456789');
});

parse('labelsFingerprint is Alertmanager\'s (prometheus/common model.LabelSet.Fingerprint test vectors)', () => {
  assert.is(BigInt(`0x${labelsFingerprint({})}`).toString(), '14695981039346656037');
  assert.is(BigInt(`0x${labelsFingerprint({ name: 'garland, briggs', fear: 'love is not enough' })}`).toString(), '5799056148416392346');
  assert.is(labelsFingerprint({ a: '1', b: '2' }), labelsFingerprint({ b: '2', a: '1' }), 'label order does not matter');
});

parse('an alert without a status: resolved only when endsAt is set and past (AM Resolved())', () => {
  const base = { labels: { alertname: 'X' }, annotations: {}, startsAt: '2026-01-01T00:00:00Z' };
  const p = AlertmanagerPayloadSchema.parse({
    version: '4',
    groupKey: 'g',
    status: 'firing',
    alerts: [
      { ...base, endsAt: '0001-01-01T00:00:00Z' },
      { ...base, labels: { alertname: 'Y' }, endsAt: '2026-01-01T00:10:00Z' },
      { ...base, labels: { alertname: 'Z' }, endsAt: '2026-01-01T02:00:00Z' },
    ],
  });
  assert.equal(toObservations(p, new Date('2026-01-01T01:00:00Z')).map((o) => o.status), ['firing', 'resolved', 'firing']);
});

parse('severity words map to critical | warning | info, default warning', () => {
  assert.is(mapSeverity('critical'), 'critical');
  assert.is(mapSeverity('Major'), 'critical');
  assert.is(mapSeverity('page'), 'critical');
  assert.is(mapSeverity('warning'), 'warning');
  assert.is(mapSeverity('minor'), 'warning');
  assert.is(mapSeverity('info'), 'info');
  assert.is(mapSeverity('informational'), 'info');
  assert.is(mapSeverity(undefined), 'warning');
  assert.is(mapSeverity('whatever'), 'warning');
});

parse('runbook: a label or annotation naming a runbook, else the internal rule of the same name, else none', () => {
  assert.is(alertRunbook({ alertname: 'X', runbook: 'email' }, {}), 'email-delivery', 'label, by alias');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook_id: 'payment-issues' }), 'payment-issues');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook: 'DB' }), 'database-performance');
  assert.is(alertRunbook({ alertname: 'X' }, { runbook_url: 'https://wiki.example/runbooks/memory-resources.md' }), 'memory-resources', 'URL by its last segment');
  assert.is(alertRunbook({ alertname: 'HighBounceRate' }, { runbook: 'https://github.com/bzon/prometheus-msteams' }), 'email-delivery', 'a URL naming no runbook: the rule');
  assert.is(alertRunbook({ alertname: 'CircuitBreakerOpen', runbook: 'nope' }, {}), 'external-apis');
  assert.is(alertRunbook({ alertname: 'high_memory_load' }, { runbook: 'https://github.com/bzon/prometheus-msteams' }), undefined);
  const obs = toObservations(AlertmanagerPayloadSchema.parse({ version: '4', groupKey: 'g', status: 'firing', alerts: [{ labels: { alertname: 'PipelineDown' }, startsAt: '2026-01-01T00:00:00Z' }] }));
  assert.is(obs[0]!.runbook, 'pipeline-not-processing');
});

parse('invalid payloads are refused with the field named', () => {
  const good = JSON.parse(raw(OWN, MIXED));
  const bad = (mutate: (p: any) => void) => {
    const p = structuredClone(good);
    mutate(p);
    const r = parseAlertmanagerPayload(p);
    assert.not.ok(r.ok);
    return r.ok ? '' : r.error;
  };
  assert.match(bad((p) => (p.version = '3')), 'version');
  assert.match(bad((p) => delete p.groupKey), 'groupKey');
  assert.match(bad((p) => (p.alerts = {})), 'alerts');
  assert.match(bad((p) => (p.alerts[1].status = 'gone')), 'alerts.1.status');
  assert.match(bad((p) => (p.alerts[0].labels.n = 5)), 'alerts.0.labels.n');
  assert.match(bad((p) => (p.alerts[2].startsAt = 'yesterday')), 'alerts.2.startsAt');
  assert.not.ok(parseAlertmanagerPayload([]).ok);
});

parse('bearer token check', () => {
  assert.ok(bearerMatches(`Bearer ${TOKEN}`, TOKEN));
  assert.ok(bearerMatches(`bearer ${TOKEN}`, TOKEN), 'scheme is case-insensitive');
  assert.not.ok(bearerMatches(`Bearer ${TOKEN}x`, TOKEN));
  assert.not.ok(bearerMatches(`Basic ${TOKEN}`, TOKEN));
  assert.not.ok(bearerMatches(undefined, TOKEN));
  assert.not.ok(bearerMatches('Bearer ', TOKEN));
});

parse.run();
