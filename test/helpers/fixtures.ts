/**
 * The recorded provider fixtures (real Slack, SendGrid, Stripe, Yelp, PageSpeed, OpenAI and Alertmanager
 * payloads with their SOURCES.md): `shared/fixtures/real` beside the checkout (`<checkout>/../shared/fixtures/real`),
 * or the folder named by `LF_SHARED_FIXTURES`. Tests that need them are skipped (test/helpers/preconditions.ts)
 * when the folder is missing, never passed.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The checkout's root folder (the one holding package.json). */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** Absolute path of the recorded fixtures folder. */
export const REAL_FIXTURES = resolve(process.env.LF_SHARED_FIXTURES ?? join(REPO_ROOT, '../shared/fixtures/real'));

/** Whether the recorded fixtures folder is there. */
export const HAVE_REAL_FIXTURES = existsSync(REAL_FIXTURES);

/** The reason a fixture-based test is skipped. */
export const NO_FIXTURES = `recorded fixtures not found at ${REAL_FIXTURES} (set LF_SHARED_FIXTURES)`;

/** A path inside the recorded fixtures folder. */
export function realFixture(...parts: string[]): string {
  return join(REAL_FIXTURES, ...parts);
}
