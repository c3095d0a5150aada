/**
 * The cert manager: the control plane's own certificate authority for the agent link.
 *
 * - The CA (ECDSA P-256) is created on first start. Its private key is kept encrypted at rest
 *   (AES-256-GCM) in `<dir>/ca-key.enc`. The encryption key comes from a configured secret
 *   (scrypt) or, by default, from a random 32-byte `<dir>/master.key` (0600).
 *   Threat model, honestly: with the default master key beside the encrypted key, the encryption
 *   protects a copy of the CA key that leaves the machine without the master key (a backup of the
 *   database folder, a log of the file); it does not protect against root on the control plane
 *   host. Passing a secret (PI_CONTROLLER_CA_SECRET) moves the key out of the data directory.
 * - Agent certificates are issued against a CSR (the agent's key never leaves the node), with the
 *   node name as CN and SAN, clientAuth only, short-lived (30 days by default) and renewed by the
 *   agent over its live link when a third of the lifetime is left.
 * - Join tokens are one-time and short-lived; only their SHA-256 is stored. A token carries the
 *   CA's SHA-256 so the agent can pin the CA before it trusts anything the server says.
 * - Revocation: a serial list checked by the agent endpoint at every connection.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync, timingSafeEqual, webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ControllerError } from '../api/errors.js';
import type { SecretBox } from '../core/ports.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** WebCrypto key types as x509 declares them (its typings use the DOM names, Node's live in node:crypto). */
type KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type Key = KeyPair['privateKey'];

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A refused enrolment or certificate request; `code` is stable. */
export class CertError extends ControllerError {
  constructor(
    code: 'TOKEN_UNKNOWN' | 'TOKEN_USED' | 'TOKEN_EXPIRED' | 'CSR_INVALID' | 'CA_KEY_UNREADABLE' | 'CERT_REVOKED',
    message: string,
    status = 403,
  ) {
    super(code, status, message);
  }
}

/** One certificate the CA issued. */
export interface IssuedCert {
  serial: string;
  node: string;
  notBefore: string;
  notAfter: string;
  revoked: boolean;
}

export interface JoinToken {
  /** The token to hand to `pi-controller agent --join-token` (shown once). */
  token: string;
  node: string;
  expiresAt: string;
}

interface State {
  issued: IssuedCert[];
  tokens: { id: string; hash: string; node: string; expiresAt: string; usedAt: string | null }[];
}

export interface CertManagerOptions {
  /** Folder for the CA and the issued/revoked lists (created 0700). */
  dir: string;
  /** Secret from which the CA key's encryption key is derived; default: a random master.key file. */
  secret?: string;
  /** Lifetime of agent certificates in days (default 30). */
  agentDays?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** PEM of a DER buffer. */
function pem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function randomSerial(): string {
  // Positive 16-byte serial (RFC 5280: at most 20 octets, non-negative).
  return '01' + randomBytes(15).toString('hex');
}

/** Generates an ECDSA P-256 key pair and returns it with its PKCS#8 PEM (for server certificates). */
async function generateKey(): Promise<{ keys: KeyPair; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
  return { keys, keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey)) };
}

/** Parses certificate facts without trusting them (serial, CN, expiry). */
export function certInfo(certPem: string): { serial: string; subject: string; notBefore: Date; notAfter: Date } {
  const c = new x509.X509Certificate(certPem);
  return { serial: c.serialNumber.toLowerCase(), subject: c.subject, notBefore: c.notBefore, notAfter: c.notAfter };
}

/** See the module comment. Create with {@link CertManager.open}. */
export class CertManager {
  readonly caCert: string;
  /** SHA-256 of the CA certificate (hex): pinned by agents through the join token. */
  readonly caSha256: string;
  readonly #caKey: Key;
  readonly #ca: x509.X509Certificate;
  readonly #dir: string;
  readonly #agentDays: number;
  readonly #now: () => number;
  #state: State;

  private constructor(dir: string, caCert: string, caKey: Key, state: State, opts: CertManagerOptions) {
    this.#dir = dir;
    this.caCert = caCert;
    this.#ca = new x509.X509Certificate(caCert);
    this.caSha256 = createHash('sha256').update(Buffer.from(this.#ca.rawData)).digest('hex');
    this.#caKey = caKey;
    this.#state = state;
    this.#agentDays = opts.agentDays ?? 30;
    this.#now = opts.now ?? Date.now;
  }

  /** Opens the CA in `dir`, creating it on first use. */
  static async open(opts: CertManagerOptions): Promise<CertManager> {
    const dir = opts.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certFile = join(dir, 'ca-cert.pem');
    const keyFile = join(dir, 'ca-key.enc');
    const stateFile = join(dir, 'certs.json');
    const state: State = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as State) : { issued: [], tokens: [] };
    const secret = encryptionKey(dir, opts.secret);
    if (existsSync(certFile) && existsSync(keyFile)) {
      const pkcs8 = decrypt(secret, readFileSync(keyFile));
      const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, ALG, false, ['sign']);
      return new CertManager(dir, readFileSync(certFile, 'utf8'), key as unknown as Key, state, opts);
    }
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as KeyPair;
    const now = (opts.now ?? Date.now)();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=pi-controller CA ${hostname()}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 10 * 365 * DAY),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey));
    atomicWrite(keyFile, encrypt(secret, pkcs8), 0o600);
    atomicWrite(certFile, ca.toString('pem'), 0o644);
    const m = new CertManager(dir, ca.toString('pem'), keys.privateKey, state, opts);
    m.#save();
    return m;
  }

  /** A one-time join token for `node`, valid for `ttlMs` (default 15 minutes). */
  createJoinToken(node: string, ttlMs = 15 * 60_000): JoinToken {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const expiresAt = new Date(this.#now() + ttlMs).toISOString();
    this.#state.tokens = this.#state.tokens.filter((t) => Date.parse(t.expiresAt) > this.#now() - DAY);
    this.#state.tokens.push({ id, hash: sha256(secret), node, expiresAt, usedAt: null });
    this.#save();
    return { token: `${id}.${secret}.${this.caSha256}`, node, expiresAt };
  }

  /**
   * Checks and spends a join token; returns the node it was made for.
   * @throws CertError TOKEN_UNKNOWN, TOKEN_USED (a second use), TOKEN_EXPIRED
   */
  consumeJoinToken(token: string): string {
    const [id, secret] = token.split('.');
    const t = this.#state.tokens.find((x) => x.id === id);
    if (!t || !secret || !safeEqual(t.hash, sha256(secret))) throw new CertError('TOKEN_UNKNOWN', 'the join token is not known here');
    if (t.usedAt) throw new CertError('TOKEN_USED', `the join token was already used at ${t.usedAt}`);
    if (Date.parse(t.expiresAt) <= this.#now()) throw new CertError('TOKEN_EXPIRED', `the join token expired at ${t.expiresAt}`);
    t.usedAt = new Date(this.#now()).toISOString();
    this.#save();
    return t.node;
  }

  /**
   * Issues a client certificate for `node` against a PEM CSR (CN and SAN are set from `node`,
   * whatever the CSR asks for; its signature must verify).
   */
  async issueAgent(csrPem: string, node: string): Promise<{ cert: string; serial: string; notAfter: string }> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new CertError('CSR_INVALID', `the CSR cannot be parsed: ${(err as Error).message}`, 422);
    }
    if (!(await csr.verify())) throw new CertError('CSR_INVALID', 'the CSR signature does not verify', 422);
    const now = this.#now();
    const serial = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${node}`,
      issuer: this.#ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + this.#agentDays * DAY),
      signingAlgorithm: ALG,
      publicKey: csr.publicKey,
      signingKey: this.#caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: node }]),
      ],
    });
    const rec: IssuedCert = {
      serial: cert.serialNumber.toLowerCase(),
      node,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      revoked: false,
    };
    this.#state.issued = this.#state.issued.filter((c) => c.revoked || Date.parse(c.notAfter) > now);
    this.#state.issued.push(rec);
    this.#save();
    return { cert: cert.toString('pem'), serial: rec.serial, notAfter: rec.notAfter };
  }

  /** A server certificate (and its key) for the agent endpoint, signed by the CA. */
  async issueServer(hosts: string[], days = 90): Promise<{ cert: string; key: string; notAfter: Date }> {
    const { keys, keyPem } = await generateKey();
    const now = this.#now();
    const names = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=pi-controller agent endpoint ${hostname()}`,
      issuer: this.#ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + days * DAY),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: this.#caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names),
      ],
    });
    return { cert: cert.toString('pem'), key: keyPem, notAfter: cert.notAfter };
  }

  /** Revokes one certificate by serial (hex). Returns false when unknown. */
  revoke(serial: string): boolean {
    const c = this.#state.issued.find((x) => x.serial === serial.toLowerCase());
    if (!c) return false;
    c.revoked = true;
    this.#save();
    return true;
  }

  /** Revokes every certificate of `node` (a removed node); returns the serials. */
  revokeNode(node: string): string[] {
    const out: string[] = [];
    for (const c of this.#state.issued) {
      if (c.node === node && !c.revoked) {
        c.revoked = true;
        out.push(c.serial);
      }
    }
    if (out.length) this.#save();
    return out;
  }

  /** Whether a serial (hex, any case) is revoked, or was never issued by this CA. */
  isRevoked(serial: string): boolean {
    const c = this.#state.issued.find((x) => x.serial === serial.toLowerCase());
    return c === undefined || c.revoked;
  }

  /** Certificates issued (and not yet expired or revoked-and-expired). */
  issued(): IssuedCert[] {
    return this.#state.issued.map((c) => ({ ...c }));
  }

  #save(): void {
    atomicWrite(join(this.#dir, 'certs.json'), JSON.stringify(this.#state, null, 1), 0o600);
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function atomicWrite(file: string, data: string | Buffer, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/**
 * Seals small secrets kept in the database (a provisioning job's SSH or sudo password) with the
 * key that protects the CA key: same key, same format, same threat model (see the top of this file).
 */
export function openSecretBox(dir: string, secret?: string): SecretBox {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = encryptionKey(dir, secret);
  return { seal: (plain) => encrypt(key, plain), open: (sealed) => decrypt(key, sealed) };
}

/** The AES-256 key protecting the CA key: scrypt of the secret, or the random master.key file. */
function encryptionKey(dir: string, secret: string | undefined): Buffer {
  if (secret !== undefined) {
    const saltFile = join(dir, 'ca-key.salt');
    if (!existsSync(saltFile)) atomicWrite(saltFile, randomBytes(16), 0o600);
    return scryptSync(secret, readFileSync(saltFile), 32);
  }
  const file = join(dir, 'master.key');
  if (!existsSync(file)) atomicWrite(file, randomBytes(32), 0o600);
  const key = readFileSync(file);
  if (key.length !== 32) throw new CertError('CA_KEY_UNREADABLE', `${file} must hold 32 bytes`, 500);
  return key;
}

/** Layout: 'PCK1' | iv(12) | tag(16) | ciphertext. */
function encrypt(key: Buffer, plain: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.from('PCK1'), iv, c.getAuthTag(), body]);
}

function decrypt(key: Buffer, blob: Buffer): Buffer {
  if (blob.subarray(0, 4).toString() !== 'PCK1') throw new CertError('CA_KEY_UNREADABLE', 'ca-key.enc is not in a known format', 500);
  try {
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(4, 16));
    d.setAuthTag(blob.subarray(16, 32));
    return Buffer.concat([d.update(blob.subarray(32)), d.final()]);
  } catch {
    throw new CertError('CA_KEY_UNREADABLE', 'the CA key does not decrypt with this secret or master.key', 500);
  }
}
