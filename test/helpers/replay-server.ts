/**
 * A tiny node:http server for adapter tests: answers every request with the current `reply` (status, headers,
 * body), or never answers when `reply.hang` is set (client timeouts). Records each request's method, URL,
 * headers and body.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server answers next. */
export interface Reply {
  status: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  hang?: boolean;
}

/** A running replay server. Set `reply` before each call. */
export interface ReplayServer {
  url: string;
  port: number;
  reply: Reply;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** Starts a replay server on 127.0.0.1 and a free port. */
export async function startReplayServer(initial: Reply = { status: 200, body: '{}' }): Promise<ReplayServer> {
  const state: ReplayServer = {
    url: '',
    port: 0,
    reply: initial,
    requests: [],
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const r = state.reply;
      if (r.hang) return;
      const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body);
      res.writeHead(r.status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...(r.headers ?? {}) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
