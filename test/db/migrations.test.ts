import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lockPathFor, startEmbeddedDatabase } from '../../db/embedded.js';
import { openDatabase } from '../../db/orm.js';
import { DatabaseError } from '../../db/errors.js';
import { freshDatabase } from '../helpers/db.js';
import { ON_POSTGRES, testIf } from '../helpers/preconditions.js';

const TABLES = ['api_calls', 'assessment_results', 'businesses', 'email_events', 'email_suppressions', 'emails', 'purchases', 'webhook_inbox', 'job_runs', 'ops_events', 'provider_cache', 'provider_quota_usage', 'provider_state', 'rate_limit_state', 'settings', 'targets', 'audit_log', 'remediation_claims', 'error_records', 'alerts', 'incidents', 'incident_events', 'silences', 'slack_outbox', 'slack_messages', 'assistant_answers', 'dead_letters', 'oncall_rotations', 'oncall_overrides', 'oncall_contacts', 'page_deliveries'];

async function checkMigrated(url: string | undefined, label: string) {
  const db = await freshDatabase({ url });
  try {
    const rows = await db.orm.em
      .getConnection()
      .execute<{ table_name: string }[]>(
        "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
      );
    const names = rows.map((r) => r.table_name);
    for (const t of TABLES) assert.ok(names.includes(t), `${label}: table ${t} exists`);
    const drift = await db.orm.getSchemaGenerator().getUpdateSchemaSQL();
    assert.is(drift.trim(), '', `${label}: entities and migrations agree`);
    const pending = await db.orm.getMigrator().getPendingMigrations();
    assert.is(pending.length, 0);
  } finally {
    await db.close();
  }
}

const migrations = suite('migrations');

migrations('apply on the embedded database with no drift from the entities', async () => {
  await checkMigrated(undefined, 'embedded');
});

testIf(migrations, ON_POSTGRES, 'needs DATABASE_URL (CI sets it)')('apply on the real PostgreSQL with no drift from the entities', async () => {
  await checkMigrated(process.env.DATABASE_URL, 'postgres');
});

migrations.run();

const lock = suite('embedded database lock');
let dir = '';
lock.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'lf-lock-'));
});
lock.after.each(() => rmSync(dir, { recursive: true, force: true }));

lock('a second opener of the same data folder is refused with a message naming the lock file', async () => {
  const first = await startEmbeddedDatabase({ dataDir: dir, maxConnections: 2 });
  try {
    let err: unknown;
    try {
      await startEmbeddedDatabase({ dataDir: dir, maxConnections: 2 });
    } catch (e) {
      err = e;
    }
    assert.instance(err, DatabaseError);
    assert.is((err as DatabaseError).code, 'db_locked');
    assert.match((err as Error).message, lockPathFor(dir));
    assert.match((err as Error).message, String(process.pid));
  } finally {
    await first.close();
  }
});

lock('the lock is held from the first moment: a second opener during the initdb of the first is refused', async () => {
  const first = startEmbeddedDatabase({ dataDir: dir, maxConnections: 2 });
  await new Promise((r) => setTimeout(r, 50)); // the first is still in initdb
  const held = JSON.parse(readFileSync(lockPathFor(dir), 'utf8')) as { pid: number; port: number };
  assert.is(held.pid, process.pid);
  let err: unknown;
  try {
    await startEmbeddedDatabase({ dataDir: dir, maxConnections: 2 });
  } catch (e) {
    err = e;
  }
  assert.is((err as DatabaseError)?.code, 'db_locked');
  const db = await first;
  await db.close();
  assert.not.ok(existsSync(lockPathFor(dir)), 'the owner removes its lock on close');
});

lock('a lock owned by another live process is never removed by us', async () => {
  const other = { pid: process.ppid, port: 1, startedAt: '2026-01-01' };
  writeFileSync(lockPathFor(dir), JSON.stringify(other));
  let err: unknown;
  try {
    await startEmbeddedDatabase({ dataDir: dir, maxConnections: 2 });
  } catch (e) {
    err = e;
  }
  assert.is((err as DatabaseError)?.code, 'db_locked');
  assert.equal(JSON.parse(readFileSync(lockPathFor(dir), 'utf8')), other);
});

lock('a lock left by a dead process is taken over, and data persists across reopenings', async () => {
  writeFileSync(lockPathFor(dir), JSON.stringify({ pid: 2 ** 22 + 12345, port: 1, startedAt: '2026-01-01' }));
  const db = await openDatabase({ url: undefined, dataDir: dir, poolMax: 2, migrate: true });
  await db.orm.em
    .getConnection()
    .execute(
      "insert into targets (location, category, daily_quota, priority, active, created_at, updated_at) values ('Reno, NV', 'bakeries', 5, 0, true, now(), now())",
    );
  await db.close();
  const again = await openDatabase({ url: undefined, dataDir: dir, poolMax: 2, migrate: true });
  try {
    const rows = await again.orm.em.getConnection().execute<{ location: string }[]>('select location from targets');
    assert.equal(rows.map((r) => r.location), ['Reno, NV']);
  } finally {
    await again.close();
  }
});

lock.run();
