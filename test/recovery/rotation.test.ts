/**
 * Backup rotation and listing on a folder of made-up backup files (no database): only backups whose name says they
 * were taken more than the retention before now are deleted, with their checksum files; other files stay.
 */
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backupStamp, backupTime, checksumPath, listBackups, rotateBackups, sha256File } from '../../domain/recovery/backup.js';

const DAY = 24 * 60 * 60_000;
const test = suite<{ dir: string }>('recovery: backup rotation');

test.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'lf-rotate-'));
});
test.after.each((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

async function fakeBackup(dir: string, at: Date): Promise<string> {
  const file = join(dir, `leadfactory-${backupStamp(at)}.dump`);
  writeFileSync(file, `PGDMP fake ${at.toISOString()}`);
  writeFileSync(checksumPath(file), `${await sha256File(file)}  leadfactory-${backupStamp(at)}.dump\n`);
  return file;
}

test('names carry the UTC time; stamps round-trip', () => {
  const at = new Date('2026-11-29T04:00:07.450Z');
  assert.is(backupStamp(at), '20261129T040007Z');
  assert.equal(backupTime(`/x/leadfactory-${backupStamp(at)}.dump`), new Date('2026-11-29T04:00:07Z'));
  assert.equal(backupTime('/x/leadfactory-20261129T040007Z-2.dump'), new Date('2026-11-29T04:00:07Z'));
  assert.is(backupTime('/x/other.dump'), undefined);
});

test('rotation deletes backups older than 30 days only, with their checksums; other files stay', async (ctx) => {
  const now = new Date('2026-11-29T04:00:00Z');
  const old1 = await fakeBackup(ctx.dir, new Date(now.getTime() - 45 * DAY));
  const old2 = await fakeBackup(ctx.dir, new Date(now.getTime() - 30 * DAY - 60_000));
  const edge = await fakeBackup(ctx.dir, new Date(now.getTime() - 30 * DAY));
  const recent = await fakeBackup(ctx.dir, new Date(now.getTime() - 29 * DAY));
  const today = await fakeBackup(ctx.dir, now);
  writeFileSync(join(ctx.dir, 'notes.txt'), 'keep me');
  writeFileSync(join(ctx.dir, 'leadfactory-old-manual.sql'), 'keep me too');
  // an old leftover of a crashed dump goes; a fresh one (a dump in progress) stays
  const staleLeftover = join(ctx.dir, `leadfactory-${backupStamp(new Date(now.getTime() - 2 * DAY))}.dump.partial`);
  writeFileSync(staleLeftover, 'partial');
  const oldTime = (now.getTime() - 2 * DAY) / 1000;
  utimesSync(staleLeftover, oldTime, oldTime);
  const freshLeftover = join(ctx.dir, `leadfactory-${backupStamp(now)}-2.dump.partial`);
  writeFileSync(freshLeftover, 'partial');
  utimesSync(freshLeftover, now.getTime() / 1000, now.getTime() / 1000);

  const deleted = await rotateBackups(ctx.dir, 30, now);
  assert.equal(deleted, [old1, old2].sort());
  const left = readdirSync(ctx.dir).sort();
  const base = (f: string) => f.slice(ctx.dir.length + 1);
  assert.equal(
    left,
    [
      base(edge),
      `${base(edge)}.sha256`,
      base(recent),
      `${base(recent)}.sha256`,
      base(today),
      base(freshLeftover),
      `${base(today)}.sha256`,
      'leadfactory-old-manual.sql',
      'notes.txt',
    ].sort(),
  );
  const listed = await listBackups(ctx.dir);
  assert.equal(listed.map((b) => b.file), [today, recent, edge]);
  assert.ok(listed.every((b) => b.verified === true));
});

test('retention is a parameter; a missing folder lists and rotates nothing', async (ctx) => {
  const now = new Date('2026-11-29T04:00:00Z');
  const week = await fakeBackup(ctx.dir, new Date(now.getTime() - 8 * DAY));
  assert.equal(await rotateBackups(ctx.dir, 7, now), [week]);
  assert.equal(await listBackups(join(ctx.dir, 'missing')), []);
  assert.equal(await rotateBackups(join(ctx.dir, 'missing'), 30, now), []);
});

test('a backup without its checksum file lists as not verified', async (ctx) => {
  const file = await fakeBackup(ctx.dir, new Date('2026-11-01T04:00:00Z'));
  rmSync(checksumPath(file));
  const [only] = await listBackups(ctx.dir);
  assert.is(only?.verified, false);
});

test.run();
