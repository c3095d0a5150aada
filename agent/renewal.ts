/**
 * Certificate renewal over the link. When a third of the agent certificate's lifetime is left,
 * the agent makes a new key (it never leaves the node) and sends a CSR in a `renew` message; the
 * control plane answers with `renewed`. The new key and certificate are stored 0600 in the state
 * directory and used from the next connection on: the link that carried the renewal stays up.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { FILES, newKeyAndCsr, writeSecret, type AgentCredentials } from './enrol.js';

export class Renewal {
  readonly #stateDir: string;
  #creds: AgentCredentials;
  /** The key of a CSR sent and not yet answered. */
  #pendingKey: string | undefined;
  /** The current certificate's validity, ms (parsed once per certificate, not on every tick). */
  #window: { pem: string; from: number; to: number } | undefined;

  constructor(opts: { stateDir: string; credentials: AgentCredentials }) {
    this.#stateDir = opts.stateDir;
    this.#creds = opts.credentials;
  }

  /** The credentials to connect with (renewed ones once a renewal is in). */
  get credentials(): AgentCredentials {
    return this.#creds;
  }

  /** When renewal is due and none is pending: makes a key and a CSR, and hands the CSR to `send`. */
  maybeRenew(send: (csr: string) => void): void {
    if (this.#pendingKey) return;
    const c = this.#creds;
    if (this.#window?.pem !== c.cert) {
      const cert = new X509Certificate(c.cert);
      this.#window = { pem: c.cert, from: Date.parse(cert.validFrom), to: Date.parse(cert.validTo) };
    }
    const { from, to } = this.#window;
    if (to - Date.now() > (to - from) / 3) return;
    void newKeyAndCsr(c.node).then(({ keyPem, csr }) => {
      this.#pendingKey = keyPem;
      send(csr);
    });
  }

  /** Stores a renewed certificate with the pending key. False when no renewal was asked for. */
  accept(cert: string): boolean {
    const key = this.#pendingKey;
    if (!key) return false;
    this.#pendingKey = undefined;
    writeSecret(join(this.#stateDir, FILES.key), key);
    writeSecret(join(this.#stateDir, FILES.cert), cert);
    this.#creds = { ...this.#creds, key, cert };
    return true;
  }
}
