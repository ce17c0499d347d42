/**
 * Makes text from outside storable in PostgreSQL: webhook fields (SendGrid, Stripe, Alertmanager), Slack `/lf`
 * arguments, provider bodies (Yelp, PageSpeed, OpenAI).
 *
 * PostgreSQL refuses two things JavaScript strings can hold: U+0000 (`text` has no NUL byte: "invalid byte sequence
 * for encoding UTF8: 0x00"; `jsonb` refuses the `\u0000` escape: "unsupported Unicode escape sequence") and lone UTF-16
 * surrogates (`jsonb` refuses `\ud800` without its pair; in `text` parameters the driver's UTF-8 encoding turns them
 * into U+FFFD silently). Both are replaced by U+FFFD REPLACEMENT CHARACTER here, in one place, and the caller learns
 * where (`changes`), so it can keep the original where evidence matters: {@link rawJson} is the original value as JSON
 * text, whose `\u0000` and `\udXXX` escapes are plain ASCII and so storable in a `text` column, losslessly.
 */

/** The replacement for every unstorable code unit. */
export const REPLACEMENT = '\uFFFD';

// U+0000, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching U+0000 is this module's purpose
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching U+0000 is this module's purpose
const UNSTORABLE_TEST = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` holds U+0000 or a lone surrogate. */
export function hasUnstorable(s: string): boolean {
  return UNSTORABLE_TEST.test(s);
}

/** `s` with U+0000 and lone surrogates replaced by U+FFFD (other text, valid pairs included, unchanged). */
export function sanitizeText(s: string): string {
  return hasUnstorable(s) ? s.replace(UNSTORABLE, REPLACEMENT) : s;
}

/** Describes the unstorable code units of `s` for people: e.g. `U+0000 at 12, lone surrogate U+D800 at 3`. */
export function describeUnstorable(s: string, max = 3): string {
  const found: string[] = [];
  for (const m of s.matchAll(UNSTORABLE)) {
    const cu = m[0].charCodeAt(0);
    found.push(`${cu === 0 ? 'U+0000' : `lone surrogate U+${cu.toString(16).toUpperCase()}`} at ${m.index}`);
    if (found.length >= max) break;
  }
  return found.join(', ');
}

/** Result of {@link sanitizeDeep}: the storable copy and the JSON paths (`$.a[0].b`, `$.key()` for keys) changed. */
export interface Sanitized<T> {
  value: T;
  changes: string[];
}

/**
 * A copy of a parsed JSON value with every string and object key sanitized ({@link sanitizeText}). Values that need
 * no change are returned as they are (same reference), so the common case allocates nothing. At most 20 paths are
 * listed in `changes` (plus `…` when there were more).
 */
export function sanitizeDeep<T>(value: T): Sanitized<T> {
  const changes: string[] = [];
  const note = (path: string) => {
    if (changes.length < 20) changes.push(path);
    else if (changes.length === 20) changes.push('…');
  };
  const walk = (v: unknown, path: string): unknown => {
    if (typeof v === 'string') {
      if (!hasUnstorable(v)) return v;
      note(path);
      return sanitizeText(v);
    }
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      v.forEach((item, i) => {
        const w = walk(item, `${path}[${i}]`);
        if (w !== item) {
          out ??= [...v];
          out[i] = w;
        }
      });
      return out ?? v;
    }
    if (typeof v === 'object' && v !== null) {
      let changed = false;
      const entries = Object.entries(v).map(([k, item]) => {
        const key = hasUnstorable(k) ? sanitizeText(k) : k;
        if (key !== k) note(`${path}.${key}()`);
        const w = walk(item, `${path}.${key}`);
        if (key !== k || w !== item) changed = true;
        return [key, w] as const;
      });
      return changed ? Object.fromEntries(entries) : v;
    }
    return v;
  };
  return { value: walk(value, '$') as T, changes };
}

/**
 * The original value as JSON text, for evidence beside a sanitized copy. `JSON.stringify` escapes U+0000 as `\u0000`
 * and lone surrogates as `\udXXX` (well-formed JSON.stringify, ES2019), so the text is storable and lossless.
 */
export function rawJson(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Raw request bytes as storable text for a dead letter: the UTF-8 text when the bytes are valid UTF-8 without NUL
 * bytes, else `base64:<base64 of the bytes>` (both lossless).
 */
export function rawBodyText(raw: Buffer): string {
  const text = raw.toString('utf8');
  if (!text.includes('\u0000') && Buffer.from(text, 'utf8').equals(raw)) return text;
  return `base64:${raw.toString('base64')}`;
}
