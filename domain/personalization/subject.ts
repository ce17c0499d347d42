/**
 * Subject-line rules for outreach emails: at most {@link SUBJECT_IDEAL} characters ideally and never over
 * {@link SUBJECT_MAX} (RFC 5322's recommended line length), at most one "!", no control characters.
 */

/** Ideal maximum subject length (characters). */
export const SUBJECT_IDEAL = 60;
/** Hard maximum subject length (characters). */
export const SUBJECT_MAX = 78;

/** The rules a subject breaks (empty when it follows them all). */
export function checkSubject(subject: string): string[] {
  const problems: string[] = [];
  if (!subject.trim()) problems.push('empty subject');
  if (subject.length > SUBJECT_MAX) problems.push(`subject ${subject.length} chars > ${SUBJECT_MAX} (maximum)`);
  else if (subject.length > SUBJECT_IDEAL) problems.push(`subject ${subject.length} chars > ${SUBJECT_IDEAL} (ideal)`);
  const bangs = (subject.match(/!/g) ?? []).length;
  if (bangs > 1) problems.push(`${bangs} "!" in the subject (at most 1)`);
  if (/[\p{Cc}]/u.test(subject)) problems.push('control characters in the subject');
  return problems;
}

/**
 * Makes a subject follow the rules: control characters and repeated whitespace removed, every "!" after the first
 * dropped, and text over `max` (default {@link SUBJECT_IDEAL}) cut at a word boundary with "…".
 */
export function fitSubject(subject: string, max = SUBJECT_IDEAL): string {
  let s = subject.replace(/[\p{Cc}]/gu, ' ').replace(/\s+/g, ' ').trim();
  let seen = false;
  s = s.replace(/!/g, () => {
    if (seen) return '';
    seen = true;
    return '!';
  });
  if (s.length <= max) return s;
  const cut = s.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.-]+$/, '')}…`;
}

/**
 * Picks the first candidate that fits {@link SUBJECT_IDEAL} after {@link fitSubject}'s clean-up; else the first one
 * cut to fit.
 */
export function chooseSubject(candidates: string[]): string {
  for (const c of candidates) {
    const cleaned = fitSubject(c, Number.MAX_SAFE_INTEGER);
    if (cleaned.length <= SUBJECT_IDEAL && cleaned.length > 0) return cleaned;
  }
  return fitSubject(candidates[0] ?? '', SUBJECT_IDEAL);
}
