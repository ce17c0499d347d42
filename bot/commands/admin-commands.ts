/**
 * `targets …` and `db verify|backups`, the same on both doors (`/lf targets add …` in Slack, `lf targets add …` in a
 * terminal), with the same role checks and audit rows:
 *
 * - `targets [list]` (viewer): every target with quota, used today and what is left;
 * - `targets add location=… category=… [quota=N] [priority=N]`, `targets edit <id> key=value …`,
 *   `targets disable <id>`, `targets enable <id>` (operator, audited `targets:<sub>`);
 * - `db verify` (viewer): the integrity checks of domain/recovery/verify.ts (a problem = exit 1 / red in Slack);
 * - `db backups` (viewer): the backups in BACKUP_DIR, newest first, checksums verified.
 *
 * Values with spaces are quoted: `location="Denver, CO"` (bot/commands/spec.ts splits on whitespace outside quotes).
 * The terminal-only parts (`targets seed|reset-quotas|batch-size`, `db backup|restore`) stay in bot/cli-*.ts.
 */
import { AppError } from '../../domain/errors.js';
import { listBackups } from '../../domain/recovery/backup.js';
import { renderVerifyText, verifyDatabase } from '../../domain/recovery/verify.js';
import { addTarget, editTarget, listTargets, TARGET_KEYS, type TargetFields } from '../../domain/targeting/manage.js';
import { quotaSummary } from '../../domain/targeting/quota.js';
import { audit, type Actor } from '../../runbooks/actions.js';
import type { RunbookContext } from '../../runbooks/context.js';
import { roleAtLeast, type Role } from '../../runbooks/define.js';
import { suggestion } from '../cli-args.js';
import { parseKeyValues } from './spec.js';

/** A pre-rendered answer: `text` for people (monospace in Slack), `data` for `--json`, `ok` false = exit 1. */
export interface ReportResult {
  kind: 'report';
  title: string;
  text: string;
  data: unknown;
  ok: boolean;
}

/** Role per `targets` subcommand. */
export const TARGETS_ROLES: Readonly<Record<string, Role>> = { list: 'viewer', add: 'operator', edit: 'operator', disable: 'operator', enable: 'operator' };
/** Role per `db` subcommand reachable from Slack. */
export const DB_ROLES: Readonly<Record<string, Role>> = { verify: 'viewer', backups: 'viewer' };

function fields(args: string[]): Partial<TargetFields> {
  let kv: Record<string, unknown>;
  try {
    kv = parseKeyValues(args);
  } catch (err) {
    throw new AppError('bad_request', (err as Error).message);
  }
  for (const [k, v] of Object.entries(kv)) {
    if (!(TARGET_KEYS as readonly string[]).includes(k)) throw new AppError('bad_request', `unknown target field "${k}"${suggestion(k, TARGET_KEYS)} (fields: ${TARGET_KEYS.join(', ')})`);
    if (v === '') throw new AppError('bad_request', `${k}= needs a value`);
  }
  if (typeof kv.location === 'number') kv.location = String(kv.location);
  return kv as Partial<TargetFields>;
}

function targetId(word: string | undefined, usage: string): number {
  if (!word || !/^\d+$/.test(word)) throw new AppError('bad_request', `usage: ${usage} (the id from targets list)`);
  return Number(word);
}

function targetsTable(rows: { id: number; location: string; category: string; quota: number; priority: number; active: boolean; used: number | null }[]): string {
  const head = ['id', 'location', 'category', 'quota', 'used today', 'priority', 'active'];
  const body = rows.map((r) => [String(r.id), r.location, r.category, String(r.quota), r.used === null ? '-' : String(r.used), String(r.priority), r.active ? 'yes' : 'no']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

async function targetsList(ctx: RunbookContext): Promise<ReportResult> {
  const em = ctx.em();
  const [all, q] = await Promise.all([listTargets(em), quotaSummary(em, ctx.services.clock.now())]);
  const used = new Map(q.targets.map((t) => [t.target.id, t.usedToday]));
  const rows = all.map((t) => ({ ...t, used: used.get(t.id) ?? null }));
  const text = rows.length
    ? `${targetsTable(rows)}\n\nActive: ${q.targets.length}; quota ${q.totalQuota}, used ${q.totalUsed}, left ${q.totalAvailable} until ${q.resetAt.toISOString()}.`
    : 'No targets yet: targets add location="Denver, CO" category=roofing';
  return { kind: 'report', title: 'Targets', text, data: { targets: rows, totalQuota: q.totalQuota, totalUsed: q.totalUsed, totalAvailable: q.totalAvailable }, ok: true };
}

/**
 * Runs `targets <sub> …` (`args` after the word `targets`) for `actor`. A refusal (role) is a report with ok false.
 * @throws AppError `bad_request` (usage, invalid field), `not_found` (unknown id).
 */
export async function executeTargets(ctx: RunbookContext, args: string[], actor: Actor): Promise<ReportResult> {
  const [sub = 'list', ...rest] = args;
  const role = TARGETS_ROLES[sub];
  if (!role) throw new AppError('bad_request', `unknown targets subcommand "${sub}"${suggestion(sub, Object.keys(TARGETS_ROLES))} (${Object.keys(TARGETS_ROLES).join(', ')})`);
  const at = ctx.services.clock.now();
  const action = `targets:${sub}`;
  if (!roleAtLeast(actor.role, role)) {
    const detail = `targets ${sub} needs the ${role} role; ${actor.display} has ${actor.role ?? 'no role'}`;
    await audit(ctx.em(), { at, actor, action, input: { args: rest }, outcome: 'refused', detail });
    return { kind: 'report', title: 'Refused', text: `refused: ${detail}`, data: { refused: true, detail }, ok: false };
  }
  if (sub === 'list') {
    if (rest.length) throw new AppError('bad_request', 'targets list takes no arguments');
    return targetsList(ctx);
  }
  const em = ctx.em();
  try {
    let text: string;
    let data: unknown;
    if (sub === 'add') {
      const t = await addTarget(em, fields(rest));
      text = `Target #${t.id} added: ${t.category} in ${t.location}, quota ${t.quota}/day, priority ${t.priority}.`;
      data = t;
    } else if (sub === 'edit') {
      const id = targetId(rest[0], 'targets edit <id> key=value …');
      const r = await editTarget(em, id, fields(rest.slice(1)));
      const changed = Object.entries(r.after).filter(([k, v]) => r.before[k as keyof typeof r.before] !== v);
      text = `Target #${id} edited: ${changed.map(([k, v]) => `${k} ${String(r.before[k as keyof typeof r.before])} → ${String(v)}`).join(', ') || 'no change'}.`;
      data = r;
    } else {
      const id = targetId(rest[0], `targets ${sub} <id>`);
      if (rest.length > 1) throw new AppError('bad_request', `targets ${sub} takes only the id`);
      const r = await editTarget(em, id, { active: sub === 'enable' });
      text = `Target #${id} (${r.after.category} in ${r.after.location}) ${sub === 'enable' ? 'enabled' : 'disabled: the pipeline skips it from its next run'}.`;
      data = r;
    }
    await audit(ctx.em(), { at, actor, action, input: { args: rest }, outcome: 'succeeded', detail: text });
    return { kind: 'report', title: 'Targets', text, data, ok: true };
  } catch (err) {
    if (err instanceof AppError) await audit(ctx.em(), { at, actor, action, input: { args: rest }, outcome: 'refused', detail: err.message });
    throw err;
  }
}

/**
 * Runs `db verify` or `db backups` for `actor` (Slack; the terminal has its own with more options in bot/cli-db.ts).
 * @throws AppError `bad_request` for another word after `db`.
 */
export async function executeDb(ctx: RunbookContext, args: string[], actor: Actor): Promise<ReportResult> {
  const [sub = '', ...rest] = args;
  const role = DB_ROLES[sub];
  if (!role || rest.length > 0) {
    throw new AppError('bad_request', `unknown db subcommand "${args.join(' ')}"${suggestion(sub, Object.keys(DB_ROLES))}; in Slack: db (the runbook), db verify, db backups; backup and restore: the terminal (lf db …)`);
  }
  const at = ctx.services.clock.now();
  if (!roleAtLeast(actor.role, role)) {
    const detail = `db ${sub} needs the ${role} role; ${actor.display} has ${actor.role ?? 'no role'}`;
    await audit(ctx.em(), { at, actor, action: `db:${sub}`, input: {}, outcome: 'refused', detail });
    return { kind: 'report', title: 'Refused', text: `refused: ${detail}`, data: { refused: true, detail }, ok: false };
  }
  if (sub === 'verify') {
    const report = await verifyDatabase(ctx.em(), { now: at });
    await audit(ctx.em(), { at, actor, action: 'db:verify', input: {}, outcome: 'succeeded', detail: report.ok ? 'clean' : 'problems found' });
    return { kind: 'report', title: report.ok ? 'db verify: clean' : 'db verify: PROBLEMS', text: renderVerifyText(report), data: report, ok: report.ok };
  }
  const dir = ctx.services.config.recovery.backupDir;
  const list = await listBackups(dir);
  await audit(ctx.em(), { at, actor, action: 'db:backups', input: {}, outcome: 'succeeded', detail: `${list.length} backup(s) in ${dir}` });
  const lines = list.map((b) => `${b.takenAt.toISOString()}  ${String(b.bytes).padStart(12)} B  ${b.verified ? 'checksum ok ' : 'CHECKSUM BAD'}  ${b.file}`);
  return { kind: 'report', title: `Backups in ${dir}`, text: list.length ? lines.join('\n') : `no backups in ${dir}`, data: { dir, backups: list }, ok: !list.some((b) => b.verified === false) };
}
