/**
 * Raw request bodies for webhook routes. Bolt's custom routes get the untouched IncomingMessage, and every
 * webhook signature (Stripe, SendGrid, Slack) is computed over the exact bytes, so routes read the bytes here and
 * parse JSON only after verifying.
 */
import type http from 'node:http';

/** Bodies larger than this are refused (webhook payloads are small). */
export const MAX_WEBHOOK_BODY_BYTES = 1_000_000;

/** Reads the whole body as a Buffer. @throws Error('body too large') past {@link MAX_WEBHOOK_BODY_BYTES}. */
export async function readRawBody(req: http.IncomingMessage, limit = MAX_WEBHOOK_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Sends a JSON answer. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
