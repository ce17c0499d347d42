/**
 * Secret redaction for everything a diagnostic reports (summaries and evidence): provider error texts can echo
 * request URLs with a key parameter or part of a key (Stripe's "Invalid API Key provided: sk_test_****1234"). The
 * engine (runbooks/define.ts runDiagnostic) applies it to every finding, so no runbook can leak a key by mistake.
 */

const PATTERNS: [RegExp, string][] = [
  [/([?&](?:key|api_key|apikey|token|access_token)=)[^&\s"']+/gi, '$1REDACTED'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 REDACTED'],
  [/\b(sk|rk|pk|SG|whsec|xox[abposr]|xapp)[-_.][A-Za-z0-9_\-.*]{6,}/g, '$1-REDACTED'],
  [/\bAIza[0-9A-Za-z_-]{10,}/g, 'REDACTED'],
  [/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1REDACTED@'],
];

/** `text` with API keys, bearer tokens, webhook secrets and URL passwords replaced by REDACTED. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, sub] of PATTERNS) out = out.replace(re, sub);
  return out;
}

/** Deep copy of a JSON-like value with every string redacted (depth-limited). */
export function redactDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1)) as T;
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactDeep(v, depth + 1)])) as T;
}
