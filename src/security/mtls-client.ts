/**
 * Outbound mTLS: how a mesh client opens a connection to a mesh server.
 *
 * {@link meshConnector} is an undici `connect` function
 * (`new Agent({ connect: meshConnector({ svids }) })`): every new connection
 * takes the SVID current at that moment, so rotation needs no new Agent and
 * drops nothing. The server's chain is checked twice: by OpenSSL against the
 * trust bundle (`socket.authorized`) and by peer-verify as an SVID (and,
 * when the caller says which service it meant to reach, as that identity).
 * The socket is handed to undici only after both pass, so not one request
 * byte reaches an unverified server.
 *
 * TLS session resumption is off: a resumed session skips certificate
 * checks, which would outlive a trust bundle rotation.
 */
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions, PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import type { buildConnector } from 'undici';
import { peerError } from './peer-refusal.ts';
import type { ExpectedPeer, PeerIdentity, PeerVerifier } from './peer-verify.ts';
import { recordPeer } from './peer-store.ts';

/** What outbound mTLS needs from the SVID manager. */
export interface MtlsIdentitySource {
  secureContext(): SecureContext;
  readonly verifier: PeerVerifier;
}

export interface MeshConnectorOptions {
  readonly svids: MtlsIdentitySource;
  /**
   * The identity the server must have, from the connect options (host,
   * port, servername). Undefined: any SVID of our trust domain. Mesh
   * callers know the service they are calling and should say so.
   */
  readonly expectedPeer?: (options: buildConnector.Options) => ExpectedPeer | undefined;
  /** Connect + handshake time limit. Default 10 s. */
  readonly timeoutMs?: number;
  /** ALPN protocols to offer. Default `['http/1.1']`. */
  readonly alpnProtocols?: readonly string[];
  /** Told the identity of every server verified (once per connection, not per request). */
  readonly onVerified?: (options: buildConnector.Options, identity: PeerIdentity) => void;
}

const noHostnameCheck = (): undefined => undefined;

export function meshConnector(options: MeshConnectorOptions): buildConnector.connector {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const alpn = [...(options.alpnProtocols ?? ['http/1.1'])];
  return (opts, callback) => {
    let secureContext: SecureContext;
    try {
      // Throws ENMESH_ERR_SVID_UNAVAILABLE when our own certificate is missing or expired: fail closed.
      secureContext = options.svids.secureContext();
    } catch (err) {
      options.svids.verifier.count('svid-unavailable');
      callback(err as Error, null);
      return;
    }
    const expected = options.expectedPeer?.(opts);
    const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
    const servername = opts.servername ?? (isIP(host) === 0 ? host : undefined);
    const tlsOptions: ConnectionOptions = {
      host,
      port: Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80),
      secureContext,
      // Verified below, with a reason for every refusal, before the socket is used.
      rejectUnauthorized: false,
      checkServerIdentity: noHostnameCheck,
      ALPNProtocols: alpn,
      ...(servername === undefined ? {} : { servername }),
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      ...(opts.httpSocket === undefined ? {} : { socket: opts.httpSocket }),
    };
    let done = false;
    const finish = (err: Error | null, socket: TLSSocket | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== null) callback(err, null);
      else callback(null, socket!);
    };
    const socket = tlsConnect(tlsOptions);
    const timer = setTimeout(() => {
      socket.destroy();
      finish(Object.assign(new Error(`mTLS connect to ${host}:${tlsOptions.port} timed out after ${timeoutMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }), null);
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.once('secureConnect', () => {
      const r = options.svids.verifier.verifyTlsSocket(socket, 'server', expected);
      if (!r.ok) {
        socket.destroy();
        finish(peerError(r), null);
        return;
      }
      recordPeer(socket, r.identity);
      options.onVerified?.(opts, r.identity);
      finish(null, socket);
    });
    socket.once('error', (err) => finish(err, null));
  };
}

/**
 * Options for `tls.connect` / `https.request` / an `https.Agent` when not
 * using undici: OpenSSL rejects untrusted chains, then `checkServerIdentity`
 * checks the SVID. Call it per connection: the context is the current one.
 */
export function meshTlsClientOptions(svids: MtlsIdentitySource, expected?: ExpectedPeer): ConnectionOptions & { checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined } {
  return {
    secureContext: svids.secureContext(),
    rejectUnauthorized: true,
    checkServerIdentity: svids.verifier.checkServerIdentity(expected),
  };
}
