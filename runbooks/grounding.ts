/**
 * Grounding of a remediation's input in the findings that motivate it (used by the ops assistant before it offers
 * a button, whoever proposed the input: the offline planner from `defaultInput`, or a model through
 * `propose_remediation`). The input schema (zod) says what is *valid*; this says what is *warranted*:
 *
 * - a `provider` input must be a provider the runbook's non-ok findings name as affected (a string value equal to
 *   the provider id anywhere in their evidence, e.g. `unreachable: ['yelp']`, `open: ['openai']`), or the one the
 *   remediation's own `defaultInput` chooses from the findings;
 * - a numeric input for which `defaultInput` chooses a number may be at most {@link NUMERIC_STRETCH} times that
 *   number (and at least 1 when the default is positive): a model may ask for 30 minutes where the runbook says 15,
 *   not for 1,440;
 * - any other string input must be the default's value or appear in the evidence of a non-ok finding (a table, a
 *   job or a purchase the findings name), and a numeric id without a default must appear there too.
 *
 * Returns the reasons the input is not grounded (empty: grounded). Pure: no I/O.
 */
import { PROVIDERS } from '../domain/config.js';
import type { Finding, Remediation } from './define.js';

/** How far a proposed number may exceed the runbook's own choice (factor). */
export const NUMERIC_STRETCH = 4;

/** Every string and number value inside `v` (arrays and objects walked, keys ignored), at most `depth` deep. */
export function evidenceValues(v: unknown, out = new Set<string>(), depth = 6): Set<string> {
  if (depth < 0 || v === null || v === undefined) return out;
  if (typeof v === 'string' || typeof v === 'number') out.add(String(v));
  else if (Array.isArray(v)) for (const x of v) evidenceValues(x, out, depth - 1);
  else if (typeof v === 'object') for (const x of Object.values(v as Record<string, unknown>)) evidenceValues(x, out, depth - 1);
  return out;
}

/** Values named by the findings that report something (status other than ok). */
function namedByProblems(findings: Record<string, Finding>): Set<string> {
  const out = new Set<string>();
  for (const f of Object.values(findings)) if (f.status !== 'ok') evidenceValues(f.evidence, out);
  return out;
}

/** Providers the non-ok findings name (see the module comment). */
export function affectedProviders(findings: Record<string, Finding>): string[] {
  const named = namedByProblems(findings);
  return PROVIDERS.filter((p) => named.has(p));
}

/** The remediation's own input for these findings (`{}` when it has none or its chooser throws). */
export function defaultInputFor<C>(rem: Remediation<C>, findings: Record<string, Finding>): Record<string, unknown> {
  try {
    return rem.defaultInput?.(findings) ?? {};
  } catch {
    return {};
  }
}

/**
 * Why `input` for `rem` is not warranted by `findings` (one sentence per input key; empty when it is).
 * Keys are checked in the order given.
 */
export function ungroundedInputs<C>(rem: Remediation<C>, input: Record<string, unknown>, findings: Record<string, Finding>): string[] {
  const defaults = defaultInputFor(rem, findings);
  const named = namedByProblems(findings);
  const reasons: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    const def = defaults[key];
    if (key === 'provider') {
      const affected = affectedProviders(findings);
      if (value !== def && !affected.includes(String(value)))
        reasons.push(`provider=${String(value)} is not a provider the findings show affected (${affected.length ? affected.join(', ') : 'none'})`);
    } else if (typeof value === 'number') {
      if (typeof def === 'number') {
        const max = Math.max(def, def * NUMERIC_STRETCH);
        if (value > max || (def > 0 && value < 1)) reasons.push(`${key}=${value} is outside what the findings warrant (the runbook chooses ${def}; at most ${max})`);
      } else if (!named.has(String(value))) reasons.push(`${key}=${value} is not named by any finding`);
    } else if (typeof value === 'string') {
      if (value !== def && !named.has(value)) reasons.push(`${key}=${value.slice(0, 60)} is not named by any finding`);
    }
  }
  return reasons;
}

/** `key=value` pairs of an input for people (confirmation dialogs, refusals): `provider=yelp, minutes=15`, or `none`. */
export function describeInput(input: Record<string, unknown>): string {
  const pairs = Object.entries(input).map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
  return pairs.length ? pairs.join(', ') : 'none';
}
