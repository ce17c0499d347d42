/**
 * Reads an operator's question into the topics it asks about (runbooks/causality.ts) and the providers it names,
 * robust to typos, inflections and language (English, French, German, Spanish):
 * 1. accents folded, lower case, split into words (`e-mail` → `e`, `mail`); stop words of the four languages dropped;
 * 2. each word and each lexicon word (lexicon.ts) stemmed with the Snowball stemmers of all four languages
 *    (snowball-stemmers); a word matches when a stem is shared — weight 1 (½ for a word marked ambiguous);
 * 3. otherwise, by Levenshtein distance (fastest-levenshtein) to the lexicon's words and stems: ≤ 1 edit for words
 *    of 4–6 letters, ≤ 2 from 7 — weight 0.7 (`emials` → emails, `sendng` → sending);
 * 4. otherwise, a long word containing a lexicon word of 5+ letters (German compounds: `Zahlungsfehler`) — 0.6.
 * 5. a topic word within {@link NEGATION_WINDOW} words after a negation ("never got the report", "no new leads",
 *    "aren't getting", "kein Bericht", "aucun courriel") weighs {@link NEGATED_BOOST} times: the missing thing is
 *    the complaint, the other words are context ("customer *paid* but never got the report").
 * A question with no topic and no provider ("is everything ok?", or words it cannot place) is `unplaced`: the
 * planner answers it with the whole-system picture.
 */
import { distance } from 'fastest-levenshtein';
import * as snowballModule from 'snowball-stemmers';
import { PROVIDERS, type ProviderId } from '../../domain/config.js';
import { TOPICS, type Topic } from '../../runbooks/causality.js';
import { PROVIDER_WORDS, STOP_WORDS, TOPIC_WORDS } from './lexicon.js';

/** How a question word was matched. */
export type MatchKind = 'exact' | 'fuzzy' | 'compound';

/** One matched word. */
export interface WordMatch {
  word: string;
  /** The lexicon word it matched. */
  term: string;
  kind: MatchKind;
  topic?: Topic;
  provider?: ProviderId;
  weight: number;
}

/** What a question asks about. */
export interface QuestionReading {
  /** Topic → weight (sum of matched words' weights, capped at {@link TOPIC_CAP}). */
  topics: Map<Topic, number>;
  providers: Set<ProviderId>;
  matches: WordMatch[];
  /** No topic and no provider recognised. */
  unplaced: boolean;
  /** Every match was exact (no typo or compound guess involved). */
  exact: boolean;
}

// a CommonJS package: its exports are `default` under ESM, the namespace itself under a CommonJS loader
const snowball: { newStemmer: typeof snowballModule.newStemmer } = snowballModule.default ?? snowballModule;
const STEMMERS = ['english', 'french', 'german', 'spanish'].map((l) => snowball.newStemmer(l));

/** Folds accents and case: `Évaluées` → `evaluees`, `ß` → `ss`. */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/ß/g, 'ss').toLowerCase();
}

/** Words of a text after folding (letters and digits). */
export function words(text: string): string[] {
  return fold(text).split(/[^a-z0-9]+/).filter((w) => w.length > 0);
}

/** The word and its stems in the four languages. */
export function stems(word: string): Set<string> {
  const out = new Set<string>([word]);
  for (const s of STEMMERS) out.add(s.stem(word));
  return out;
}

interface Entry {
  term: string;
  topic?: Topic;
  provider?: ProviderId;
  weight: number;
}

/** stem → lexicon entries; and the list of lexicon words/stems for edit-distance look-ups. */
const INDEX = new Map<string, Entry[]>();
const VOCAB: string[] = [];
function addEntry(raw: string, e: Omit<Entry, 'term'>): void {
  for (const w of words(raw)) {
    if (w.length < 2) continue;
    for (const s of stems(w)) {
      const list = INDEX.get(s) ?? [];
      list.push({ ...e, term: w });
      INDEX.set(s, list);
      VOCAB.push(s);
    }
  }
}
for (const t of TOPICS)
  for (const raw of TOPIC_WORDS[t].split(/\s+/).filter(Boolean)) addEntry(raw.replace(/^~/, ''), { topic: t, weight: raw.startsWith('~') ? 0.5 : 1 });
for (const p of PROVIDERS) for (const raw of PROVIDER_WORDS[p].split(/\s+/)) addEntry(raw, { provider: p, weight: 1 });
const UNIQUE_VOCAB = [...new Set(VOCAB)];
const COMPOUND_PARTS = UNIQUE_VOCAB.filter((v) => v.length >= 5 && !/^\d+$/.test(v));

/** Edit distance allowed for a word of this length (0: no fuzzy match). */
export function allowedEdits(len: number): number {
  return len < 4 ? 0 : len <= 6 ? 1 : 2;
}

/** True when `a` is `b` with two adjacent letters swapped (`emials`/`emails`): one typo, not two edits. */
export function transposed(a: string, b: string): boolean {
  if (a.length !== b.length || a === b) return false;
  let i = 0;
  while (a[i] === b[i]) i++;
  return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
}

function lookup(word: string): { entries: Entry[]; kind: MatchKind } | undefined {
  const exact = [...stems(word)].flatMap((s) => INDEX.get(s) ?? []);
  if (exact.length) return { entries: exact, kind: 'exact' };
  if (/^\d+$/.test(word)) return undefined;
  const edits = allowedEdits(word.length);
  if (edits > 0) {
    let best = edits + 1;
    let hits: string[] = [];
    for (const v of UNIQUE_VOCAB) {
      if (Math.abs(v.length - word.length) > edits || v.length < 4) continue;
      const d = transposed(word, v) ? 1 : distance(word, v);
      if (d < best) {
        best = d;
        hits = [v];
      } else if (d === best) hits.push(v);
    }
    if (best <= edits) return { entries: hits.flatMap((h) => INDEX.get(h) ?? []), kind: 'fuzzy' };
  }
  if (word.length >= 8) {
    const parts = COMPOUND_PARTS.filter((p) => word.includes(p));
    if (parts.length) return { entries: parts.flatMap((p) => INDEX.get(p) ?? []), kind: 'compound' };
  }
  return undefined;
}

const KIND_WEIGHT: Record<MatchKind, number> = { exact: 1, fuzzy: 0.7, compound: 0.6 };

/** Highest weight of one topic. */
export const TOPIC_CAP = 2.5;
/** Words after a negation that count as negated, and their weight factor. */
export const NEGATION_WINDOW = 4;
export const NEGATED_BOOST = 1.5;
/** Negations of the four languages (`t` is what is left of "n't" once words are split). */
export const NEGATIONS = new Set(
  'no not never none nothing without t nt didnt dont doesnt isnt arent wasnt werent cant wont havent hasnt pas jamais aucun aucune rien sans nicht kein keine keinen keiner nie niemals ohne nunca ningun ninguna ninguno sin'.split(' '),
);

/** Indexes of the words that follow a negation within {@link NEGATION_WINDOW}. */
function negatedPositions(all: string[]): Set<number> {
  const out = new Set<number>();
  all.forEach((w, i) => {
    if (NEGATIONS.has(w)) for (let j = i + 1; j <= i + NEGATION_WINDOW && j < all.length; j++) out.add(j);
  });
  return out;
}

/** Reads `question` (see the module comment). Pure and synchronous. */
export function readQuestion(question: string): QuestionReading {
  const topics = new Map<Topic, number>();
  const providers = new Set<ProviderId>();
  const matches: WordMatch[] = [];
  const all = words(question);
  const negated = negatedPositions(all);
  const seen = new Set<string>();
  for (const [pos, word] of all.entries()) {
    if (seen.has(word) || STOP_WORDS.has(word) || NEGATIONS.has(word) || (word.length < 2 && !/^\d$/.test(word))) continue;
    seen.add(word);
    const boost = negated.has(pos) ? NEGATED_BOOST : 1;
    const hit = lookup(word);
    if (!hit) continue;
    // one contribution per topic and per provider for this word (its best weight)
    const perTopic = new Map<string, WordMatch>();
    for (const e of hit.entries) {
      const key = e.topic ?? `provider:${e.provider}`;
      const weight = e.weight * KIND_WEIGHT[hit.kind] * boost;
      if ((perTopic.get(key)?.weight ?? 0) < weight) perTopic.set(key, { word, term: e.term, kind: hit.kind, topic: e.topic, provider: e.provider, weight });
    }
    for (const m of perTopic.values()) {
      matches.push(m);
      if (m.topic) topics.set(m.topic, Math.min(TOPIC_CAP, (topics.get(m.topic) ?? 0) + m.weight));
      if (m.provider) providers.add(m.provider);
    }
  }
  return { topics, providers, matches, unplaced: topics.size === 0 && providers.size === 0, exact: matches.every((m) => m.kind === 'exact') };
}
