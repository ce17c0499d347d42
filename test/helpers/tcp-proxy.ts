/**
 * A TCP proxy for outage tests: forwards 127.0.0.1:<port> to a target (e.g. PostgreSQL) and can cut every
 * connection and refuse new ones (`cut()`), as a database that went away does, then let them through again
 * (`restore()`). Point the code under test at {@link TcpProxy.url} (`postgres://` URL with the proxy's port).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  port: number;
  /** `targetUrl` with host and port replaced by the proxy's. */
  url: string;
  /** Destroys every open connection; new ones are reset at once until {@link restore}. */
  cut(): void;
  restore(): void;
  isCut(): boolean;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (any free port) in front of the host:port of `targetUrl` (a postgres:// URL). */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const host = target.hostname;
  const port = Number(target.port || 5432);
  const open = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(port, host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const own = (server.address() as AddressInfo).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(own);
  return {
    port: own,
    url: url.toString(),
    cut() {
      cut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      cut = false;
    },
    isCut: () => cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut = true;
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
