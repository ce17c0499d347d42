/**
 * Cutting text for size limits without breaking characters: cuts fall on grapheme-cluster boundaries
 * (`Intl.Segmenter`, granularity `grapheme`), so an emoji with its skin tone or ZWJ sequence, a flag, or a letter
 * with combining marks is kept whole or dropped whole, never split into a lone surrogate or a stray modifier.
 * Lengths are JavaScript string lengths (UTF-16 code units), the unit Slack's and most APIs' limits are checked in
 * by our own code; a cut result is never longer than `max`.
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The longest prefix of `text` made of whole grapheme clusters whose length is at most `max` (code units).
 * `text` itself when it fits.
 */
export function graphemePrefix(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  let end = 0;
  for (const { index, segment } of segmenter.segment(text)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  return text.slice(0, end);
}

/**
 * `text` cut to at most `max` code units on a grapheme boundary, ending in `ellipsis` (default `…`) when cut.
 * Trailing white space before the ellipsis is dropped.
 */
export function truncateGraphemes(text: string, max: number, ellipsis = '…'): string {
  if (text.length <= max) return text;
  if (max <= ellipsis.length) return graphemePrefix(ellipsis, max);
  return `${graphemePrefix(text, max - ellipsis.length).replace(/\s+$/u, '')}${ellipsis}`;
}
