/**
 * API tokens (admin): the list (never a secret), a form that creates one and shows its secret
 * this once, and revoking with a second, explicit confirmation.
 */
import { useState } from 'preact/hooks';
import type { TokenCreated, TokenInfo } from '../src/api/tokens.js';
import type { Role } from './api.js';
import { ErrorLine, Outcome } from './outcome.js';
import { ago, useAction, useLive, useShared, when } from './shared.js';
import { ListTable } from './table.js';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export function TokensPage() {
  const { client, me } = useShared();
  const { data, error } = useLive(
    () => client.get<{ items: TokenInfo[] }>('/tokens'),
    (e) => e.type.startsWith('token.'),
  );
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [days, setDays] = useState('');
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const create = useAction();
  const revoke = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setSecret(null);
    const ttl = days.trim() ? Math.round(Number(days) * 86400) : undefined;
    await create.run(async () => {
      const r = await client.req<TokenCreated>('POST', '/tokens', { name: name.trim(), role, ...(ttl ? { ttlSeconds: ttl } : {}) });
      setSecret({ name: r.info.name, token: r.token });
      setName('');
      setDays('');
      return `Token ${r.info.name} (${r.info.role}) created.`;
    });
  };
  return (
    <>
      <h1 tabIndex={-1}>Tokens</h1>
      <form class="card form" onSubmit={submit} aria-labelledby="new-token-h">
        <h2 id="new-token-h">New token</h2>
        <div class="fields">
          <label>
            Name
            <input
              value={name}
              required
              maxLength={64}
              pattern="[A-Za-z0-9][A-Za-z0-9 ._@\-]*"
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          <label>
            Expires after (days, empty: never)
            <input value={days} inputMode="decimal" pattern="[0-9]*\.?[0-9]*" onInput={(e) => setDays(e.currentTarget.value)} />
          </label>
        </div>
        <button type="submit" disabled={create.busy}>
          {create.busy ? 'Creating…' : 'Create token'}
        </button>
        <Outcome said={create.said} error={create.error} />
        {secret && (
          <div class="notice secret">
            <label for="secret">Secret of {secret.name}: shown this once, copy it now</label>
            <input id="secret" readOnly value={secret.token} onFocus={(e) => e.currentTarget.select()} data-testid="token-secret" />
            <button type="button" class="secondary" onClick={() => setSecret(null)}>
              I have copied it
            </button>
          </div>
        )}
      </form>
      <ErrorLine error={error} />
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Active tokens {data ? `(${data.items.length})` : ''}</h2>
        <Outcome said={revoke.said} error={revoke.error} />
        {data && (
          <ListTable
            rows={data.items}
            rowKey={(t) => t.id}
            columns={[
              {
                label: 'Name',
                cell: (t) => (
                  <>
                    {t.name}
                    {t.id === me.id && <span class="sub">this session</span>}
                  </>
                ),
              },
              { label: 'Role', cell: (t) => t.role },
              { label: 'Created', cell: (t) => `${when(t.createdAt)} by ${t.createdBy}` },
              { label: 'Last used', cell: (t) => ago(t.lastUsedAt) },
              { label: 'Expires', cell: (t) => (t.expiresAt ? when(t.expiresAt) : 'never') },
              {
                label: 'Actions',
                hidden: true,
                cell: (t) =>
                  confirming === t.id ? (
                    <span class="row">
                      <button
                        type="button"
                        class="danger"
                        disabled={revoke.busy}
                        onClick={() =>
                          void revoke
                            .run(
                              async () => (await client.req('DELETE', `/tokens/${encodeURIComponent(t.id)}`), `Token ${t.name} revoked.`),
                            )
                            .then(() => setConfirming(null))
                        }
                      >
                        Yes, revoke {t.name}
                      </button>
                      <button type="button" class="secondary" onClick={() => setConfirming(null)}>
                        Keep
                      </button>
                    </span>
                  ) : (
                    <button type="button" class="secondary" onClick={() => setConfirming(t.id)}>
                      Revoke {t.name}
                    </button>
                  ),
              },
            ]}
          />
        )}
      </section>
    </>
  );
}
