/** The small HTML pages public links answer with (unsubscribe, report link, checkout success and cancel). */
import type http from 'node:http';

/** Escapes text for HTML (element content and quoted attributes). */
export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * Answers `status` with a minimal page: `title` (escaped) as title and heading, `inner` (HTML, escaped by the
 * caller) below. Never cached, never indexed, no referrer (the URL carries a token).
 */
export function page(res: http.ServerResponse, status: number, title: string, inner: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-robots-tag': 'noindex',
    'referrer-policy': 'no-referrer',
  });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
      `<title>${esc(title)}</title></head><body style="font-family:sans-serif;max-width:32em;margin:3em auto">` +
      `<h1>${esc(title)}</h1>${inner}</body></html>`,
  );
}
