import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import { X509Certificate } from '@peculiar/x509';
import { CertManager, certInfo } from '../../src/certs/index.js';
import { newKeyAndCsr } from '../../agent/enrol.js';
import { tempDir } from '../support/tmp.js';

t.test('CertManager', async (t) => {
  t.test('creates the CA once, keeps its key encrypted at rest (0600) and reopens it', async (t) => {
    const dir = tempDir(t);
    const a = await CertManager.open({ dir });
    const b = await CertManager.open({ dir });
    t.equal(b.caSha256, a.caSha256, 'same CA after reopen');
    const enc = readFileSync(join(dir, 'ca-key.enc'));
    t.notOk(enc.toString('latin1').includes('PRIVATE KEY'), 'no PEM key on disk');
    t.equal(statSync(join(dir, 'ca-key.enc')).mode & 0o777, 0o600);
    t.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);
    t.ok(new X509Certificate(a.caCert).extensions.length >= 2);
  });

  t.test('with a secret, the wrong secret cannot open the CA key', async (t) => {
    const dir = tempDir(t);
    await CertManager.open({ dir, secret: 'right' });
    await t.resolves(CertManager.open({ dir, secret: 'right' }));
    await t.rejects(CertManager.open({ dir, secret: 'wrong' }), { code: 'CA_KEY_UNREADABLE' });
  });

  t.test('issues agent certificates from a CSR that chain to the CA, with the node as CN', async (t) => {
    const m = await CertManager.open({ dir: tempDir(t), agentDays: 7 });
    const { csr } = await newKeyAndCsr('whatever-the-node-asks');
    const issued = await m.issueAgent(csr, 'pi-7');
    const cert = new X509Certificate(issued.cert);
    t.equal(cert.subject, 'CN=pi-7', 'the CN comes from the token, not from the CSR');
    t.ok(await cert.verify({ publicKey: await new X509Certificate(m.caCert).publicKey.export(), signatureOnly: true }), 'signed by the CA');
    const info = certInfo(issued.cert);
    t.ok(Math.abs(info.notAfter.getTime() - info.notBefore.getTime() - 7 * 86400_000 - 60_000) < 5000, '7-day lifetime');
    t.notOk(m.isRevoked(issued.serial));
    t.ok(m.isRevoked('00ff'), 'an unknown serial counts as revoked');
    t.same(m.revokeNode('pi-7'), [issued.serial]);
    t.ok(m.isRevoked(issued.serial));
    t.ok((await CertManager.open({ dir: tempDir(t) })).isRevoked(issued.serial), 'another CA does not know it');
    await t.rejects(m.issueAgent('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'x'), {
      code: 'CSR_INVALID',
    });
  });

  t.test('join tokens are one-time, expire, and pin the CA', async (t) => {
    let now = Date.now();
    const m = await CertManager.open({ dir: tempDir(t), now: () => now });
    const a = m.createJoinToken('pi-1', 60_000);
    t.equal(a.token.split('.')[2], m.caSha256);
    t.equal(m.consumeJoinToken(a.token), 'pi-1');
    t.throws(() => m.consumeJoinToken(a.token), { code: 'TOKEN_USED' });
    const b = m.createJoinToken('pi-2', 60_000);
    now += 61_000;
    t.throws(() => m.consumeJoinToken(b.token), { code: 'TOKEN_EXPIRED' });
    t.throws(() => m.consumeJoinToken('nope.nope.nope'), { code: 'TOKEN_UNKNOWN' });
  });
});
