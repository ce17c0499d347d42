/**
 * Creating, editing, disabling and listing targets (`lf targets add|edit|disable|enable|list`, `/lf targets …`).
 * A target is one Yelp Fusion business search: `location` (Yelp's `location` parameter, e.g. "Denver, CO") ×
 * `category` (a Yelp category alias, e.g. `roofing`), with a daily quota of businesses sourced and a priority
 * (higher first). Targets are never deleted (businesses keep their `target_id`); a disabled one is skipped.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Target, type ITarget } from '../../db/entities/index.js';
import { AppError } from '../errors.js';

/** Fields a caller may set, with their rules (quota 1–5000 per UTC day, priority 0–100). */
export const TargetFieldsSchema = z.object({
  location: z.string().trim().min(2).max(200),
  category: z.string().trim().regex(/^[a-z0-9_]+(,[a-z0-9_]+)*$/, 'a Yelp category alias, e.g. roofing (comma-separated for several)'),
  quota: z.number().int().min(1).max(5000),
  priority: z.number().int().min(0).max(100),
  active: z.boolean(),
});
/** Input of {@link addTarget} / {@link editTarget}. */
export type TargetFields = z.infer<typeof TargetFieldsSchema>;
/** The keys `targets add|edit` accept, in help order. */
export const TARGET_KEYS = ['location', 'category', 'quota', 'priority', 'active'] as const;

/** A target as shown to people and in JSON. */
export interface TargetView {
  id: number;
  location: string;
  category: string;
  quota: number;
  priority: number;
  active: boolean;
}

function view(t: ITarget): TargetView {
  return { id: t.id, location: t.location, category: t.category, quota: t.dailyQuota, priority: t.priority, active: t.active };
}

function check<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new AppError('bad_request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

/** Every target, active first, then by priority (highest first) and id. */
export async function listTargets(em: EntityManager): Promise<TargetView[]> {
  const rows = await em.find(Target, {}, { orderBy: { active: 'desc', priority: 'desc', id: 'asc' } });
  return rows.map(view);
}

/**
 * Inserts a target. `location` and `category` are required; quota defaults to 50, priority to 0.
 * @throws AppError `bad_request` for an invalid field or a duplicate location × category.
 */
export async function addTarget(em: EntityManager, input: Partial<TargetFields>): Promise<TargetView> {
  const fields = check(TargetFieldsSchema.pick({ location: true, category: true, quota: true, priority: true }).partial({ quota: true, priority: true }), input);
  const dup = await em.findOne(Target, { location: fields.location, category: fields.category });
  if (dup) throw new AppError('bad_request', `target #${dup.id} already covers ${fields.category} in ${fields.location} (edit it instead)`);
  const t = em.create(Target, { location: fields.location, category: fields.category, dailyQuota: fields.quota ?? 50, priority: fields.priority ?? 0, active: true });
  await em.flush();
  return view(t);
}

/**
 * Changes the given fields of target `id`; returns it before and after.
 * @throws AppError `not_found` for an unknown id, `bad_request` for an invalid field or nothing to change.
 */
export async function editTarget(em: EntityManager, id: number, input: Partial<TargetFields>): Promise<{ before: TargetView; after: TargetView }> {
  const fields = check(TargetFieldsSchema.partial(), input);
  if (Object.keys(fields).length === 0) throw new AppError('bad_request', `nothing to change: give one of ${TARGET_KEYS.map((k) => `${k}=…`).join(', ')}`);
  const t = await em.findOne(Target, { id });
  if (!t) throw new AppError('not_found', `no target #${id} (lf targets list)`);
  const before = view(t);
  if (fields.location !== undefined) t.location = fields.location;
  if (fields.category !== undefined) t.category = fields.category;
  if (fields.quota !== undefined) t.dailyQuota = fields.quota;
  if (fields.priority !== undefined) t.priority = fields.priority;
  if (fields.active !== undefined) t.active = fields.active;
  await em.flush();
  return { before, after: view(t) };
}
