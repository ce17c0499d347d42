/**
 * The sandbox's `runtime_error` fault for PageSpeed: the answer Google gives when Lighthouse could not measure the
 * page but the API call itself worked — HTTP 200, a normal runPagespeed v5 envelope, and
 * `lighthouseResult.runtimeError = {code, message}` (PSI v5 schema LighthouseResultV5.RuntimeError: "a top-level error
 * message that, if present, indicates a serious enough problem that this Lighthouse result may need to be
 * discarded"). As in such real results, every category `score` is null and every audit is `scoreDisplayMode:
 * "error"` with the message in `errorMessage` and no `numericValue` or `details`; `runWarnings` repeats the message.
 *
 * Messages are Lighthouse's own texts for each code (Lighthouse `core/lib/lh-error.js`); the FAILED_DOCUMENT_REQUEST one
 * matches the recorded PSI errors in shared/fixtures/real/pagespeed/error.*.lighthouse-failed-document-request.*.json.
 */

/** Lighthouse runtime error codes the fault can answer, with Lighthouse's message for each. */
export const LIGHTHOUSE_RUNTIME_ERRORS: Readonly<Record<string, string>> = {
  FAILED_DOCUMENT_REQUEST:
    'Lighthouse was unable to reliably load the page you requested. Make sure you are testing the correct URL and that the server is properly responding to all requests. (Details: net::ERR_TIMED_OUT)',
  ERRORED_DOCUMENT_REQUEST:
    'Lighthouse was unable to reliably load the page you requested. Make sure you are testing the correct URL and that the server is properly responding to all requests. (Status code: 404)',
  NO_FCP: 'The page did not paint any content. Please ensure you keep the browser window in the foreground during the load and try again. (NO_FCP)',
  DNS_FAILURE: 'DNS servers could not resolve the provided domain.',
};

/** The code used when the fault names none. */
export const DEFAULT_LIGHTHOUSE_CODE = 'FAILED_DOCUMENT_REQUEST';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Turns a normal runPagespeed body (parsed) into the same run failed with `code`: `lighthouseResult.runtimeError`
 * set, category scores null, audits errored. Returns a new object; `body` is not changed.
 * @throws Error when `body` has no `lighthouseResult` object.
 */
export function withRuntimeError(body: Record<string, unknown>, code: string = DEFAULT_LIGHTHOUSE_CODE): Record<string, unknown> {
  const copy = structuredClone(body);
  const lr = copy.lighthouseResult;
  if (!isRecord(lr)) throw new Error('runPagespeed body without lighthouseResult');
  const message = LIGHTHOUSE_RUNTIME_ERRORS[code] ?? `Lighthouse returned error: ${code}`;
  lr.runtimeError = { code, message };
  lr.runWarnings = [message];
  if (isRecord(lr.categories)) {
    for (const c of Object.values(lr.categories)) if (isRecord(c)) c.score = null;
  }
  if (isRecord(lr.audits)) {
    for (const a of Object.values(lr.audits)) {
      if (!isRecord(a)) continue;
      a.score = null;
      a.scoreDisplayMode = 'error';
      a.errorMessage = message;
      for (const k of ['numericValue', 'numericUnit', 'displayValue', 'details']) delete a[k];
    }
  }
  return copy;
}
