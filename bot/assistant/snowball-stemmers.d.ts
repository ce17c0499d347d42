/** Types of snowball-stemmers 0.6.0 (the package ships none): Snowball stemmers ported to JavaScript. */
declare module 'snowball-stemmers' {
  /** A stemmer of one language. */
  export interface Stemmer {
    /** The word's stem (expects a lower-case word). */
    stem(word: string): string;
  }
  /** Languages available, e.g. `english`, `french`, `german`, `spanish`. */
  export function algorithms(): string[];
  /** A stemmer for `algorithm` (one of {@link algorithms}). @throws Error for an unknown language. */
  export function newStemmer(algorithm: string): Stemmer;
  const snowball: { algorithms: typeof algorithms; newStemmer: typeof newStemmer };
  export default snowball;
}
