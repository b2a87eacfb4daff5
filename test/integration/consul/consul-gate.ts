/**
 * A TCP gate on a fixed loopback port in front of the Consul double. Shut, nothing listens on the
 * port, so clients get ECONNREFUSED, which is what a stopped or unreachable Consul agent looks like
 * (the double's own switches only make it hang or answer errors). Opened again on the same port,
 * requests reach the double as before.
 */
import net from 'node:net';
import { freePort } from '../../helpers/free-port.ts';

export interface ConsulGate {
  /** `http://127.0.0.1:<port>`: give this to the control plane or the SDK instead of the double's URL. */
  readonly url: string;
  open(): Promise<void>;
  /** Stops listening and cuts every connection, held blocking queries included. */
  shut(): Promise<void>;
}

export async function startConsulGate(targetPort: number, options: { readonly open?: boolean } = {}): Promise<ConsulGate> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const gate: ConsulGate = {
    url: `http://127.0.0.1:${port}`,
    async open() {
      if (server !== undefined) return;
      const s = net.createServer((client) => {
        const upstream = net.connect(targetPort, '127.0.0.1');
        track(client);
        track(upstream);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
    },
    async shut() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  if (options.open !== false) await gate.open();
  return gate;
}
