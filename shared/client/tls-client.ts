// The client side of TLS for every client that talks to the servers (the primary's fetcher, the
// operator CLI, workspace push and pull, the Director's Image repository client): the CA bundle it
// trusts instead of the system's, the client certificate it presents (a vehicle's, for mutual TLS),
// one keep-alive agent whose session cache resumes TLS sessions, and the one place where Node's TLS
// failures become typed errors that say what to check.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import https from 'node:https';
import { createSecureContext } from 'node:tls';
import { FetchError, TlsCertificateError, TlsConfigurationError, TlsDowngradeError, TlsHandshakeError } from '../core/errors.js';

/** What a client trusts and presents, as PEM text (the CLI reads the files; nothing here reads the process). */
export interface ClientTlsConfig {
  /** The CA bundle server certificates must chain to; it replaces the system's CAs, so only these are trusted. */
  readonly ca?: string;
  /** A client certificate to present (a vehicle's, issued at provisioning, for the Director's mutual TLS). */
  readonly cert?: string;
  /** The private key of `cert`. */
  readonly key?: string;
}

/** Sessions kept for resumption per agent: a vehicle talks to two servers, an operator CLI to one. */
const MAX_CACHED_SESSIONS = 16;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Certificate verification failures OpenSSL reports (Node puts the X509_V_ERR name in `code`). */
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);
const WRONG_HOST = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** A client's TLS settings, checked once, and the agent every request of that client goes through. */
export class ClientTls {
  /** Keep-alive, so a cycle's requests share one connection; its session cache resumes TLS on a new one. */
  readonly agent: https.Agent;

  constructor(readonly config: ClientTlsConfig) {
    checkClientTlsConfig(config);
    this.agent = new https.Agent({ keepAlive: true, maxCachedSessions: MAX_CACHED_SESSIONS, ca: config.ca, cert: config.cert, key: config.key });
  }

  /**
   * The agent for `url`. A client configured for TLS never sends a request in clear: an http://
   * URL is refused as a downgrade, not silently followed (docs/threat-model.md L15).
   */
  agentFor(url: URL): https.Agent {
    if (url.protocol !== 'https:') {
      throw new TlsDowngradeError(`${url.origin}: this client is configured for TLS (a CA bundle or client certificate is set) and refuses to send a request in clear; use the server's https:// URL`);
    }
    return this.agent;
  }

  /** Closes idle kept-alive connections (tests, and a CLI that is done). */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Checks PEM text before any connection: Node accepts a CA bundle without a single certificate
 * in it and then trusts nothing, which would read as "the server is not trusted" later.
 */
export function checkClientTlsConfig(config: ClientTlsConfig): void {
  if (config.ca !== undefined) {
    const blocks = config.ca.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new TlsConfigurationError('the CA bundle holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA certificate file');
    for (const [i, block] of blocks.entries()) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(block);
      } catch (err) {
        throw new TlsConfigurationError(`certificate ${i + 1} of the CA bundle cannot be read (${(err as Error).message})`, { cause: err });
      }
      if (!cert.ca) throw new TlsConfigurationError(`certificate ${i + 1} of the CA bundle (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate: give the CA that issued the server's certificate, not a server's own`);
    }
  }
  if ((config.cert === undefined) !== (config.key === undefined)) {
    throw new TlsConfigurationError(config.cert === undefined ? 'a client key without its certificate: give both' : 'a client certificate without its private key: give both');
  }
  if (config.cert !== undefined && config.key !== undefined) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(config.cert);
    } catch (err) {
      throw new TlsConfigurationError(`the client certificate is not a PEM certificate (${(err as Error).message})`, { cause: err });
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(config.key);
    } catch (err) {
      throw new TlsConfigurationError(`the client key is not a usable PEM private key (${(err as Error).message})`, { cause: err });
    }
    if (!cert.checkPrivateKey(key)) throw new TlsConfigurationError('the client key is not the private key of the client certificate: give the key issued with it');
    try {
      createSecureContext({ cert: config.cert, key: config.key }); // OpenSSL's own checks (a key type TLS cannot use)
    } catch (err) {
      throw new TlsConfigurationError(`the client certificate and key cannot be used for TLS (${(err as Error).message})`, { cause: err });
    }
  }
}

/**
 * The typed error for a TLS failure of a request to `url`, or undefined when `err` is not one. A
 * refused server certificate is an attack (whoever answered could not prove to be the server); a
 * handshake that failed otherwise is a fault (no TLS on that port, no common protocol version).
 */
export function tlsFailureOf(err: unknown, url: string): FetchError | undefined {
  if (err instanceof FetchError) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const origin = originOf(url);
  const reason = (err as Error).message;
  if (EXPIRED.has(code)) {
    return new TlsCertificateError(`${origin}: the server's certificate is expired or not yet valid (${code}); renew the server's certificate, or check this machine's clock`, { cause: err });
  }
  if (WRONG_HOST.has(code)) {
    return new TlsCertificateError(`${origin}: the server's certificate is not issued for this host name (${reason}); use a URL with a host name the certificate names, or issue the server a certificate for it`, {
      cause: err,
    });
  }
  if (UNTRUSTED.has(code)) {
    return new TlsCertificateError(
      `${origin}: the server's certificate is not issued by a trusted CA (${code}); check that the CA bundle (--ca, env UPTANE_CA, or the vehicle's provisioned CA) is the CA that issued the server's certificate, or someone else is answering at this address`,
      { cause: err },
    );
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return new TlsHandshakeError(`${origin}: the TLS handshake failed (${reason}); is the server serving TLS on this port (https://), with a TLS version this client accepts?`, { cause: err });
  }
  return undefined;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
