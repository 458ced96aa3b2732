import { connect, createServer, type Socket } from 'node:net';

/** What the proxy does to the next connections. */
export interface FaultPlan {
  /** Refuse (accept and close at once) this many next connections. */
  refuse?: number;
  /** Cut the next this many connections that carry more than `afterBytes` (both directions counted). */
  drop?: number;
  /** Bytes after which a planned drop happens. Default 1 MiB. */
  afterBytes?: number;
}

export interface FaultProxy {
  host: '127.0.0.1';
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections cut or refused so far. */
  readonly faults: number;
  /** Set what happens to the next connections (replaces the previous plan). */
  plan(plan: FaultPlan): void;
  /** Cut every open connection now. */
  dropAll(): void;
  /** Stop moving bytes on every open connection without closing it (a silently dead peer); `flow()` undoes it. */
  stall(): void;
  flow(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, for fault injection:
 * dropped connections mid-transfer and refused connections, on demand.
 */
export async function startFaultProxy(target: { host?: string; port: number }): Promise<FaultProxy> {
  const open = new Set<Socket>();
  let connections = 0;
  let faults = 0;
  let refuse = 0;
  let drop = 0;
  let afterBytes = 1024 * 1024;

  const server = createServer((client) => {
    connections += 1;
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (refuse > 0) {
      refuse -= 1;
      faults += 1;
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    let carried = 0;
    let judged = false;
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        carried += chunk.length;
        // The first connections to pass the threshold are cut, whichever they are (a client may pool them).
        if (!judged && carried > afterBytes) {
          judged = true;
          if (drop > 0) {
            drop -= 1;
            faults += 1;
            client.destroy();
            upstream.destroy();
            return;
          }
        }
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: '127.0.0.1',
    port,
    get connections() {
      return connections;
    },
    get faults() {
      return faults;
    },
    plan(next) {
      refuse = next.refuse ?? 0;
      drop = next.drop ?? 0;
      afterBytes = next.afterBytes ?? 1024 * 1024;
    },
    dropAll() {
      for (const socket of open) socket.destroy();
    },
    stall() {
      for (const socket of open) socket.pause();
    },
    flow() {
      for (const socket of open) socket.resume();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
