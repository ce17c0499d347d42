/**
 * Deploys and configuration changes, for the troubleshooting guide's "identify the last known good version" step:
 *
 * - {@link recordDeploy} (called once at start by bot/main.ts): the version that runs (package.json `version`, the
 *   git commit from `GIT_SHA`/`SOURCE_VERSION` or `git rev-parse HEAD` when the checkout has one), the host, and the
 *   configuration with secrets reduced to "set"/"unset" plus its SHA-256 fingerprint;
 * - {@link changesReport}: the recent starts, what configuration changed at each (keys whose value differs from the
 *   previous start), the daily pipeline's runs during each start's lifetime, run-time overrides changed since the
 *   oldest start shown (who, when), and the last version that ran clean (at least one succeeded daily run and none
 *   failed during its lifetime).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppConfig } from './config.js';
import { insertDeploy, recentDeploys, runOutcomesBetween, settingsChangedSince, type DeployRow, type OverrideChange, type RunOutcomes } from './queries/changes.js';

/** Keys whose values are secrets (or URLs that may carry credentials): recorded only as set/unset. */
const SECRET_KEY = /token|secret|password|apikey|api_key|key$|url$|dsn|signing/i;

/** The version that runs: package.json `version` and the git commit when known. */
export function currentVersion(env: NodeJS.ProcessEnv = process.env): { version: string; gitSha: string | null } {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // compiled layouts may not ship package.json beside domain/: keep "unknown"
  }
  let gitSha: string | null = env.GIT_SHA ?? env.SOURCE_VERSION ?? null;
  if (!gitSha) {
    try {
      gitSha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).toString().trim() || null;
    } catch {
      gitSha = null;
    }
  }
  return { version, gitSha };
}

/** The configuration flattened to dotted keys, secrets replaced by `set`/`unset` (never their values). */
export function publicConfig(config: AppConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (value: unknown, path: string) => {
    const key = path.split('.').pop() ?? path;
    if (SECRET_KEY.test(key)) {
      out[path] = value === undefined || value === null || value === '' ? 'unset' : 'set';
      return;
    }
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    out[path] = value === undefined ? null : value;
  };
  walk(config, '');
  return out;
}

/** Records this start; returns the row. */
export async function recordDeploy(em: EntityManager, config: AppConfig, now: Date, env: NodeJS.ProcessEnv = process.env): Promise<DeployRow> {
  const { version, gitSha } = currentVersion(env);
  const cfg = publicConfig(config);
  const configHash = createHash('sha256').update(JSON.stringify(Object.entries(cfg).sort(([a], [b]) => a.localeCompare(b)))).digest('hex');
  const row = { version, gitSha, configHash, config: cfg, host: hostname(), startedAt: now };
  return { id: await insertDeploy(em, row), ...row };
}

/** One start in the report. */
export interface DeployChange {
  deploy: Omit<DeployRow, 'config'>;
  /** Configuration keys whose value differs from the previous start (empty for the oldest shown). */
  configChanged: { key: string; from: unknown; to: unknown }[];
  /** True when the version (or commit) differs from the previous start's. */
  versionChanged: boolean;
  /** The daily pipeline's runs during this start's lifetime. */
  runs: RunOutcomes;
  /** At least one succeeded run and none failed. */
  clean: boolean;
}

/** What `/lf changes` shows. */
export interface ChangesReport {
  deploys: DeployChange[];
  overrides: OverrideChange[];
  /** The newest start that ran clean, or null when none did. */
  lastKnownGood: Omit<DeployRow, 'config'> | null;
}

/** Builds the report (see the module comment); `job` is the daily pipeline's job name. */
export async function changesReport(em: EntityManager, job: string, limit = 10): Promise<ChangesReport> {
  const rows = await recentDeploys(em, limit + 1);
  const deploys: DeployChange[] = [];
  for (let i = 0; i < Math.min(rows.length, limit); i++) {
    const d = rows[i]!;
    const prev = rows[i + 1];
    const next = rows[i - 1];
    const runs = await runOutcomesBetween(em, job, d.startedAt, next?.startedAt);
    const keys = new Set([...Object.keys(d.config), ...Object.keys(prev?.config ?? {})]);
    const configChanged = prev
      ? [...keys].filter((k) => JSON.stringify(d.config[k]) !== JSON.stringify(prev.config[k])).sort().map((k) => ({ key: k, from: prev.config[k] ?? null, to: d.config[k] ?? null }))
      : [];
    const { config: _c, ...deploy } = d;
    deploys.push({ deploy, configChanged, versionChanged: !!prev && (prev.version !== d.version || prev.gitSha !== d.gitSha), runs, clean: runs.succeeded > 0 && runs.failed === 0 });
  }
  const oldest = deploys.at(-1)?.deploy.startedAt ?? new Date(0);
  return { deploys, overrides: await settingsChangedSince(em, oldest), lastKnownGood: deploys.find((d) => d.clean)?.deploy ?? null };
}

/** Default window of {@link recentChanges}: 24 hours (ms). */
export const RECENT_CHANGES_WINDOW_MS = 24 * 3600_000;

/**
 * What changed recently, for the guide's "what changed?" question at alert time and in the assistant's context:
 * starts inside the window that brought a new version or configuration (`changes`), how many restarts changed
 * nothing, and the run-time overrides people set (settings not written by the service itself).
 */
export interface RecentChanges {
  /** Window start. */
  since: Date;
  /** Starts in the window whose version or configuration differs from the start before, newest first. */
  deploys: { version: string; gitSha: string | null; startedAt: Date; versionChanged: boolean; configKeys: string[] }[];
  /** Starts in the window that changed nothing. */
  restarts: number;
  /** Run-time overrides changed in the window, newest first (who, when). */
  overrides: OverrideChange[];
}

/** Reads {@link RecentChanges} for the `windowMs` before `now` (default 24 h). */
export async function recentChanges(em: EntityManager, now: Date, windowMs = RECENT_CHANGES_WINDOW_MS): Promise<RecentChanges> {
  const since = new Date(now.getTime() - windowMs);
  const rows = await recentDeploys(em, 50);
  const deploys: RecentChanges['deploys'] = [];
  let restarts = 0;
  for (let i = 0; i < rows.length; i++) {
    const d = rows[i]!;
    if (d.startedAt < since) break;
    const prev = rows[i + 1];
    const versionChanged = !!prev && (prev.version !== d.version || prev.gitSha !== d.gitSha);
    const keys = prev && prev.configHash !== d.configHash ? [...new Set([...Object.keys(d.config), ...Object.keys(prev.config)])] : [];
    const configKeys = keys.filter((k) => JSON.stringify(d.config[k]) !== JSON.stringify(prev?.config[k])).sort();
    if (!prev || versionChanged || configKeys.length > 0) deploys.push({ version: d.version, gitSha: d.gitSha, startedAt: d.startedAt, versionChanged: versionChanged || !prev, configKeys });
    else restarts++;
  }
  return { since, deploys, restarts, overrides: await settingsChangedSince(em, since) };
}

const ago = (now: Date, t: Date): string => {
  const min = Math.max(0, Math.round((now.getTime() - t.getTime()) / 60_000));
  return min < 90 ? `${min} min ago` : `${Math.round(min / 60)} h ago`;
};

/**
 * One line per change, newest first, at most `max` (pure): `deployed 0.2.0 (ab12cd) 40 min ago`,
 * `configuration changed 2 h ago: ALERT_SOURCE, stages.leaseMs`, `override pipeline.assessment_batch_size = 5 by
 * slack:U1 12 min ago`; empty when nothing changed.
 */
export function recentChangeLines(rc: RecentChanges, now: Date, max = 6): string[] {
  const items: { at: Date; line: string }[] = [];
  for (const d of rc.deploys) {
    const v = `${d.version}${d.gitSha ? ` (${d.gitSha})` : ''}`;
    const cfg = d.configKeys.length ? `configuration changed: ${d.configKeys.slice(0, 4).join(', ')}${d.configKeys.length > 4 ? ` +${d.configKeys.length - 4}` : ''}` : '';
    const what = d.versionChanged ? `started ${v}${cfg ? `, ${cfg}` : ''}` : `restarted with ${cfg}`;
    items.push({ at: d.startedAt, line: `${what} ${ago(now, d.startedAt)}` });
  }
  for (const o of rc.overrides)
    items.push({ at: o.updatedAt, line: `setting ${o.key} = ${JSON.stringify(o.value).slice(0, 60)} by ${o.updatedBy ?? 'unknown'} ${ago(now, o.updatedAt)}` });
  items.sort((a, b) => b.at.getTime() - a.at.getTime());
  const lines = items.slice(0, max).map((i) => i.line);
  if (items.length > max) lines.push(`+${items.length - max} more (lf changes)`);
  return lines;
}
