/**
 * A simple spam score for an outreach email, 0–100 with the reasons. Rules follow common content filters:
 * trigger phrases, shouting (capital letters), exclamation marks, many links, and subject length
 * (≤ 60 characters ideal, 78 maximum, at most one "!"). The rules-file driven checker replaces this later.
 */

/** Score 0–100 (higher = more likely spam) and one reason per rule that added points. */
export interface SpamResult {
  score: number;
  reasons: string[];
}

/** Emails scoring above this are held, not sent. */
export const SPAM_THRESHOLD = 50;

const TRIGGER_PHRASES = ['free', 'guarantee', 'act now', 'limited time', 'click here', 'winner', '100%', 'risk-free', 'cash'];

/** Scores `subject` and `body` (plain text). */
export function spamScore(subject: string, body: string): SpamResult {
  const reasons: string[] = [];
  let score = 0;
  const text = `${subject}\n${body}`.toLowerCase();
  for (const phrase of TRIGGER_PHRASES) {
    if (text.includes(phrase)) {
      score += 10;
      reasons.push(`trigger phrase "${phrase}"`);
    }
  }
  const letters = (subject + body).replace(/[^a-z]/gi, '');
  const caps = letters.replace(/[^A-Z]/g, '').length;
  if (letters.length > 20 && caps / letters.length > 0.3) {
    score += 20;
    reasons.push(`capitals ratio ${(caps / letters.length).toFixed(2)} > 0.30`);
  }
  const bangs = (subject.match(/!/g) ?? []).length;
  if (bangs > 1) {
    score += 15;
    reasons.push(`${bangs} exclamation marks in the subject (max 1)`);
  }
  const bodyBangs = (body.match(/!/g) ?? []).length;
  if (bodyBangs > 3) {
    score += 10;
    reasons.push(`${bodyBangs} exclamation marks in the body`);
  }
  if (subject.length > 78) {
    score += 15;
    reasons.push(`subject ${subject.length} chars > 78`);
  } else if (subject.length > 60) {
    score += 5;
    reasons.push(`subject ${subject.length} chars > 60`);
  }
  const links = (body.match(/https?:\/\//g) ?? []).length;
  if (links > 3) {
    score += 10;
    reasons.push(`${links} links (max 3)`);
  }
  return { score: Math.min(100, score), reasons };
}
