/**
 * The SSH executor the provisioner runs every remote step through (ssh2, no OpenSSH client).
 *
 * - Auth: a private key, a password, or an ssh-agent socket (`agent`, by default `SSH_AUTH_SOCK`
 *   when it is set), tried in the order ssh2 tries them.
 * - Host keys: the fingerprint (SHA-256 of the key blob, as `ssh-keygen -l -E sha256` prints it) is
 *   read during the handshake, before authentication. With no pin it is pinned once the session is up
 *   (first contact); with a pin, any other key ends the handshake with `HOST_KEY_MISMATCH` and
 *   nothing is sent. ed25519 keys are preferred, the type discovery pins with `ssh-keyscan -t ed25519`,
 *   so a fingerprint pinned there is the one compared here.
 * - Commands: one string per command, built with `cmd()`/`shq()` (src/provision/quote.ts); each runs
 *   under coreutils' `timeout` on the far side (SIGTERM to its process group, SIGKILL after a grace
 *   period; under sudo too, where a channel signal from the SSH session could not reach root's
 *   processes), with a local backstop for a host that stops answering; the exit code, signal, stdout
 *   and stderr are kept, each bounded.
 * - sudo: `sudo -n` when the account needs no password; otherwise `sudo -k -S -p ''` with the
 *   password written to the command's stdin (never in a command line, never logged). `-k` makes
 *   sudo ask every time, so the password line is always read by sudo and never reaches the command.
 * - Upload: SFTP to a private temporary file, SHA-256 compared on the far side, then moved into place
 *   (with sudo when asked) and compared again there.
 * - Download: SFTP (a root-only file first copied by sudo to a private temporary file), SHA-256
 *   compared with the far side's.
 * - Early end: `signal` in ExecOptions sends TERM over the channel and closes it (a follow whose reader left);
 *   with `holdStdin` the command's stdin stays open until then, so its end reaches a command run as root.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { Logger } from '../log/index.js';
import { ProvisionError } from './errors.js';
import { cmd, shC, shq } from './quote.js';

/** Where host key fingerprints are pinned (the store in the daemon; a map in tests). */
export interface HostKeyPins {
  /** The fingerprint pinned for `host:port`, if any. */
  get(host: string, port: number): string | undefined;
  /** Pins `fingerprint` for `host:port` (first contact). */
  pin(host: string, port: number, fingerprint: string): void;
}

/** Pins held in memory (tests, one-off sessions). */
export class MemoryPins implements HostKeyPins {
  readonly #pins = new Map<string, string>();
  get(host: string, port: number): string | undefined {
    return this.#pins.get(`${host}:${port}`);
  }
  pin(host: string, port: number, fingerprint: string): void {
    this.#pins.set(`${host}:${port}`, fingerprint);
  }
}

export interface SshOptions {
  host: string;
  /** Default 22. */
  port?: number;
  user: string;
  /** Private key (PEM or OpenSSH text). */
  privateKey?: string | Buffer;
  passphrase?: string;
  password?: string;
  /** ssh-agent socket; default `SSH_AUTH_SOCK` when set; `false` for none. */
  agent?: string | false;
  /** Password for sudo when the account needs one. */
  sudoPassword?: string;
  pins: HostKeyPins;
  /** Handshake and authentication deadline (default 20 s). */
  connectTimeoutMs?: number;
  /** Bytes kept of each of stdout and stderr per command (default 1 MiB). */
  maxOutputBytes?: number;
  /**
   * Opens the byte stream the SSH session runs over, instead of a TCP connection to host:port
   * (a jump host; tests reach a lab namespace this way).
   */
  sock?: () => Promise<Duplex>;
  log?: Logger;
}

export interface ExecOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  stdin?: string | Buffer;
  /** Run as root through sudo. */
  sudo?: boolean;
  /** Output as it arrives (for streamed logs). */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  /** Between SIGTERM and SIGKILL on timeout (default 2 s). */
  killGraceMs?: number;
  /** Ends the command early (a follower went away): TERM to it and its channel closed; resolves with what it printed. */
  signal?: AbortSignal;
  /**
   * Keeps the command's stdin open (after `stdin`, if any) until the command ends or `signal`
   * aborts: the end of its input is how a command learns that its reader left (see k3s-ops.ts
   * followCommand), where a channel signal cannot reach it (root's processes under sudo).
   */
  holdStdin?: boolean;
}

export interface ExecResult {
  /** The command as sent (without the sudo wrapper; never holds a password). */
  command: string;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Output beyond `maxOutputBytes` was dropped. */
  truncated: boolean;
  ms: number;
}

export interface UploadOptions {
  /** File mode at the destination (default 0o644). */
  mode?: number;
  /** Move into place as root (destination owned by root). */
  sudo?: boolean;
  timeoutMs?: number;
}

/** `SHA256:<base64, no padding>` of an SSH public key blob. */
export function keyFingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

const DEFAULT_TIMEOUT_MS = 60_000;

const HOST_KEY_ORDER = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;

/** One SSH connection to one host. Commands may run concurrently on it (one channel each). */
export class SshSession {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The host key fingerprint this session verified. */
  readonly fingerprint: string;
  readonly #client: Client;
  readonly #opts: SshOptions;
  readonly #max: number;
  #closed = false;
  #closeReason: Error | undefined;
  #sudoMode: Promise<'nopasswd' | 'password'> | undefined;

  private constructor(client: Client, opts: SshOptions, fingerprint: string) {
    this.#client = client;
    this.#opts = opts;
    this.host = opts.host;
    this.port = opts.port ?? 22;
    this.user = opts.user;
    this.fingerprint = fingerprint;
    this.#max = opts.maxOutputBytes ?? 1024 * 1024;
    client.on('close', () => (this.#closed = true));
    client.on('error', (err) => (this.#closeReason = err));
  }

  /** Connects and authenticates; refuses a host whose key differs from its pin. */
  static async connect(opts: SshOptions): Promise<SshSession> {
    const port = opts.port ?? 22;
    const where = `${opts.user}@${opts.host}:${port}`;
    const pinned = opts.pins.get(opts.host, port);
    let presented: string | undefined;
    const agent = opts.agent === false ? undefined : (opts.agent ?? process.env.SSH_AUTH_SOCK);
    const sock = opts.sock ? await opts.sock() : undefined;
    const config: ConnectConfig = {
      host: opts.host,
      port,
      username: opts.user,
      readyTimeout: opts.connectTimeoutMs ?? 20_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: [...HOST_KEY_ORDER] },
      hostVerifier: (key: Buffer) => {
        presented = keyFingerprint(key);
        return pinned === undefined || pinned === presented;
      },
      ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
      ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(opts.password !== undefined ? { password: opts.password } : {}),
      ...(agent ? { agent } : {}),
      ...(sock ? { sock } : {}),
    };
    const client = new Client();
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', (err: Error & { level?: string }) => reject(err));
        client.once('close', () => reject(new Error('connection closed during the handshake')));
        client.connect(config);
      });
    } catch (err) {
      // Errors of the teardown itself (an aborted socket) have nothing more to say.
      client.on('error', () => undefined);
      client.end();
      sock?.destroy();
      if (pinned !== undefined && presented !== undefined && presented !== pinned)
        throw new ProvisionError(
          'HOST_KEY_MISMATCH',
          `${opts.host}:${port} presented host key ${presented}, but ${pinned} is pinned for it: refused before logging in ` +
            '(if the host was reinstalled, remove its pin and connect again)',
          { details: { host: opts.host, port, pinned, presented } },
        );
      const level = (err as { level?: string }).level;
      if (level === 'client-authentication')
        throw new ProvisionError('SSH_AUTH_FAILED', `${where}: authentication failed (no key, agent identity or password was accepted)`, {
          cause: err,
        });
      throw new ProvisionError('SSH_CONNECT_FAILED', `${where}: ${(err as Error).message}`, { cause: err });
    }
    if (presented === undefined) {
      client.end();
      throw new ProvisionError('SSH_CONNECT_FAILED', `${where}: no host key was presented`);
    }
    if (pinned === undefined) {
      opts.pins.pin(opts.host, port, presented);
      opts.log?.info({ host: opts.host, port, fingerprint: presented }, 'pinned host key on first contact');
    }
    return new SshSession(client, opts, presented);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#client.end();
  }

  /**
   * Runs `command` (a string built with `cmd()`); resolves with its exit code and output whatever
   * the code. Rejects with `COMMAND_TIMEOUT` after the timeout (the remote process group is killed)
   * and with `SSH_DISCONNECTED` when the connection drops first.
   */
  async exec(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    // coreutils' timeout kills the command's whole process group on the far side, as whichever user
    // runs it (root under sudo, where a signal from the SSH session could not reach).
    const secs = Math.max(1, Math.ceil((o.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000));
    const bounded = ['timeout', '-k', String(Math.ceil((o.killGraceMs ?? 2_000) / 1000)), String(secs), 'sh', '-c', command];
    let wire = cmd(...bounded);
    let stdin: Buffer | undefined = o.stdin === undefined ? undefined : Buffer.from(o.stdin);
    if (o.sudo) {
      const mode = await this.sudoMode();
      if (mode === 'nopasswd') wire = cmd('sudo', '-n', '--', ...bounded);
      else {
        wire = cmd('sudo', '-k', '-S', '-p', '', '--', ...bounded);
        stdin = Buffer.concat([Buffer.from(`${this.#opts.sudoPassword!}\n`), stdin ?? Buffer.alloc(0)]);
      }
    }
    return this.#exec(command, wire, stdin, o);
  }

  /** Like `exec`, but a non-zero exit is a `COMMAND_FAILED` error carrying the result. */
  async run(command: string, o: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(command, o);
    if (r.code !== 0)
      throw new ProvisionError(
        'COMMAND_FAILED',
        `${this.host}: \`${command}\` exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(-500) || r.stdout.trim().slice(-500)}`,
        { details: { ...r } },
      );
    return r;
  }

  /**
   * How sudo runs for this account: `nopasswd`, or `password` once the configured password is
   * accepted. Rejects with `SUDO_PASSWORD_REQUIRED` or `SUDO_AUTH_FAILED`. Asked once per session.
   */
  sudoMode(): Promise<'nopasswd' | 'password'> {
    this.#sudoMode ??= (async () => {
      const free = await this.#exec('sudo -n true', 'sudo -n true', undefined, { timeoutMs: 30_000 });
      if (free.code === 0) return 'nopasswd';
      const pw = this.#opts.sudoPassword;
      if (pw === undefined)
        throw new ProvisionError('SUDO_PASSWORD_REQUIRED', `${this.user}@${this.host}: sudo asks for a password and none is configured`);
      const check = await this.#exec('sudo -k -S true', cmd('sudo', '-k', '-S', '-p', '', '--', 'true'), Buffer.from(`${pw}\n`), {
        timeoutMs: 30_000,
      });
      if (check.code !== 0) throw new ProvisionError('SUDO_AUTH_FAILED', `${this.user}@${this.host}: sudo refused the configured password`);
      return 'password';
    })();
    // A failed check is asked again next time (the password may have been corrected).
    this.#sudoMode.catch(() => (this.#sudoMode = undefined));
    return this.#sudoMode;
  }

  #exec(command: string, wire: string, stdin: Buffer | undefined, o: ExecOptions): Promise<ExecResult> {
    const t0 = performance.now();
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The far side's timeout normally ends the command; this one is the backstop for a host that stops answering.
    const backstopMs = timeoutMs + (o.killGraceMs ?? 2_000) + 10_000;
    this.#opts.log?.debug({ host: this.host, command, sudo: o.sudo === true }, 'exec');
    return new Promise<ExecResult>((resolve, reject) => {
      if (this.#closed) {
        reject(this.#disconnected(command));
        return;
      }
      this.#client.exec(wire, (err, ch) => {
        if (err) {
          reject(
            this.#closed
              ? this.#disconnected(command, err)
              : new ProvisionError('SSH_DISCONNECTED', `${this.host}: ${err.message}`, { cause: err }),
          );
          return;
        }
        const out = new Bounded(this.#max);
        const errOut = new Bounded(this.#max);
        let code: number | null = null;
        let signal: string | null = null;
        let timedOut = false;
        let settled = false;
        const onClientClose = () => finish();
        const timer = setTimeout(() => {
          timedOut = true;
          signalChannel(ch, 'KILL');
          ch.close();
          finish();
        }, backstopMs);
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#client.off('close', onClientClose);
          const ms = performance.now() - t0;
          // 124: timeout(1) sent TERM; 137: it had to send KILL after the grace period.
          if ((code === 124 || code === 137) && ms >= timeoutMs) timedOut = true;
          const result: ExecResult = {
            command,
            code,
            signal,
            stdout: out.text(),
            stderr: errOut.text(),
            truncated: out.truncated || errOut.truncated,
            ms: Math.round(ms),
          };
          if (timedOut)
            reject(
              new ProvisionError('COMMAND_TIMEOUT', `${this.host}: \`${command}\` ran past ${timeoutMs} ms and was killed`, {
                details: { ...result },
              }),
            );
          else if (code === null && signal === null && this.#closed) reject(this.#disconnected(command));
          else resolve(result);
        };
        this.#client.on('close', onClientClose);
        const onAbort = () => {
          signalChannel(ch, 'TERM');
          // The end of its input first (a held stdin: see holdStdin), then the channel.
          if (o.holdStdin) ch.end();
          ch.close();
        };
        if (o.signal?.aborted) onAbort();
        else o.signal?.addEventListener('abort', onAbort, { once: true });
        ch.on('close', () => o.signal?.removeEventListener('abort', onAbort));
        ch.on('data', (d: Buffer) => {
          out.push(d);
          o.onOutput?.('stdout', d.toString('utf8'));
        });
        ch.stderr.on('data', (d: Buffer) => {
          errOut.push(d);
          o.onOutput?.('stderr', d.toString('utf8'));
        });
        ch.on('exit', (c: number | null, sig?: string) => {
          if (typeof c === 'number') code = c;
          if (sig) signal = sig;
        });
        ch.on('close', finish);
        if (o.holdStdin) {
          if (stdin) ch.write(stdin);
        } else if (stdin) ch.end(stdin);
        else ch.end();
      });
    });
  }

  #disconnected(command: string, cause?: unknown): ProvisionError {
    return new ProvisionError(
      'SSH_DISCONNECTED',
      `${this.host}: the connection dropped while \`${command}\` ran${this.#closeReason ? ` (${this.#closeReason.message})` : ''}`,
      { cause: cause ?? this.#closeReason },
    );
  }

  /**
   * Uploads `source` (bytes, or a local file path) to `dest`, compares its SHA-256 on the far side
   * with the local one, moves it into place and compares again there. Returns the SHA-256 (hex).
   */
  async upload(source: Buffer | string, dest: string, o: UploadOptions = {}): Promise<string> {
    const data = typeof source === 'string' ? await readFile(source) : source;
    const sha = createHash('sha256').update(data).digest('hex');
    const tmp = `/tmp/.pi-controller-upload-${randomBytes(8).toString('hex')}`;
    const timeoutMs = o.timeoutMs ?? 120_000;
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      this.#client.sftp((err, s) =>
        err ? reject(new ProvisionError('UPLOAD_FAILED', `${this.host}: SFTP unavailable: ${err.message}`, { cause: err })) : resolve(s),
      ),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        // 'wx': a file of that name that exists already (someone else's) is never written through.
        const ws = sftp.createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
        ws.on('error', (err: Error) => reject(new ProvisionError('UPLOAD_FAILED', `${this.host}: ${tmp}: ${err.message}`, { cause: err })));
        ws.on('close', () => resolve());
        ws.end(data);
      });
    } finally {
      sftp.end();
    }
    const remoteSha = async (path: string, sudo: boolean) => {
      // Read through stdin: sha256sum escapes names with a backslash or newline in its output.
      const r = await this.exec(`${cmd('sha256sum')} < ${shq(path)}`, { timeoutMs, sudo });
      return r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
    };
    const first = await remoteSha(tmp, false);
    if (first !== sha) {
      await this.exec(cmd('rm', '-f', '--', tmp), { timeoutMs: 30_000 });
      throw new ProvisionError(
        'UPLOAD_CHECKSUM_MISMATCH',
        `${this.host}: ${dest}: uploaded SHA-256 ${first ?? 'unreadable'}, expected ${sha}`,
        {
          details: { expected: sha, actual: first ?? null },
        },
      );
    }
    const mode = (o.mode ?? 0o644).toString(8);
    const place = `${cmd('install', '-m', mode, '--', tmp, dest)} && ${cmd('rm', '-f', '--', tmp)}`;
    const moved = await this.exec(shC(place), { timeoutMs, sudo: o.sudo === true });
    if (moved.code !== 0) {
      await this.exec(cmd('rm', '-f', '--', tmp), { timeoutMs: 30_000 });
      throw new ProvisionError('UPLOAD_FAILED', `${this.host}: could not move the upload to ${dest}: ${moved.stderr.trim()}`);
    }
    const last = await remoteSha(dest, o.sudo === true);
    if (last !== sha)
      throw new ProvisionError(
        'UPLOAD_CHECKSUM_MISMATCH',
        `${this.host}: ${dest}: SHA-256 ${last ?? 'unreadable'} after the move, expected ${sha}`,
        {
          details: { expected: sha, actual: last ?? null },
        },
      );
    return sha;
  }

  /**
   * Downloads `remote` over SFTP to `local` and compares its SHA-256 with the far side's. With
   * `sudo`, a root-only file is first copied (as root) to a private temporary file of the login
   * user, which is removed after. Returns the SHA-256 (hex) and the size.
   */
  async download(
    remote: string,
    local: string,
    o: { sudo?: boolean; timeoutMs?: number } = {},
  ): Promise<{ sha256: string; bytes: number }> {
    const timeoutMs = o.timeoutMs ?? 120_000;
    let source = remote;
    if (o.sudo) {
      source = `/tmp/.pi-controller-download-${randomBytes(8).toString('hex')}`;
      const copy = await this.exec(cmd('install', '-m', '600', '-o', this.user, '--', remote, source), { sudo: true, timeoutMs });
      if (copy.code !== 0) throw new ProvisionError('DOWNLOAD_FAILED', `${this.host}: cannot read ${remote}: ${copy.stderr.trim()}`);
    }
    try {
      const r = await this.exec(`${cmd('sha256sum')} < ${shq(source)}`, { timeoutMs });
      const far = r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        this.#client.sftp((err, s) =>
          err
            ? reject(new ProvisionError('DOWNLOAD_FAILED', `${this.host}: SFTP unavailable: ${err.message}`, { cause: err }))
            : resolve(s),
        ),
      );
      try {
        await new Promise<void>((resolve, reject) =>
          sftp.fastGet(source, local, (err) =>
            err ? reject(new ProvisionError('DOWNLOAD_FAILED', `${this.host}: ${remote}: ${err.message}`, { cause: err })) : resolve(),
          ),
        );
      } finally {
        sftp.end();
      }
      const data = await readFile(local);
      const sha = createHash('sha256').update(data).digest('hex');
      if (far !== sha)
        throw new ProvisionError(
          'DOWNLOAD_CHECKSUM_MISMATCH',
          `${this.host}: ${remote}: downloaded SHA-256 ${sha}, the host says ${far ?? 'unreadable'}`,
          {
            details: { expected: far ?? null, actual: sha },
          },
        );
      return { sha256: sha, bytes: data.length };
    } finally {
      if (source !== remote) await this.exec(cmd('rm', '-f', '--', source), { timeoutMs: 30_000 }).catch(() => undefined);
    }
  }
}

/** Sends a signal to a channel's process group; a channel already gone is ignored. */
function signalChannel(ch: ClientChannel, name: string): void {
  try {
    ch.signal(name);
  } catch {
    // The channel closed between the timer and the signal: nothing left to kill.
  }
}

/** Keeps the first `max` bytes of a stream and whether more came. */
class Bounded {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;
  constructor(readonly max: number) {}
  push(d: Buffer): void {
    const room = this.max - this.#size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = d.length > room ? d.subarray(0, room) : d;
    if (part.length < d.length) this.truncated = true;
    this.#chunks.push(part);
    this.#size += part.length;
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}
