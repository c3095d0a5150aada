/**
 * Discovery: the machines mDNS, SSH scans and DHCP leases found, listed live; operators start a
 * scan, and give hosts a role to create a K3s cluster of them (web/provision.tsx).
 */
import { useState } from 'preact/hooks';
import type { DiscoveryResult, ScanReport } from '../src/api/discovery.js';
import { ApiError, canOperate, type List } from './api.js';
import { ago, useLive, useShared } from './shared.js';
import { ListTable, StateBadge } from './table.js';
import { ErrorLine } from './outcome.js';
import { ProvisionForm, RoleSelect, type HostRole, type Picked } from './provision.js';

export function DiscoveryPage() {
  const { client, me, failed } = useShared();
  const { data, error } = useLive(
    () => client.get<List<DiscoveryResult>>('/discovery?limit=500'),
    (e) => e.type.startsWith('discovery.'),
  );
  const [cidr, setCidr] = useState('');
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<string | null>(null);
  const [scanError, setScanError] = useState<string | null>(null);
  const [roles, setRoles] = useState<Record<string, HostRole>>({});
  const name = (h: DiscoveryResult) => h.hostname ?? h.address;
  const picked: Picked[] = (data?.items ?? []).flatMap((h) => {
    const role = roles[h.address];
    return role ? [{ address: h.address, label: name(h), role }] : [];
  });
  const scan = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setScanError(null);
    setReport(null);
    try {
      const r = await client.req<ScanReport>('POST', '/discovery/scans', cidr.trim() ? { cidr: cidr.trim() } : {});
      const errs = r.errors.map((x) => `${x.source}: ${x.message}`);
      setReport(`Scan finished: ${r.seen} seen, ${r.found} new, ${r.lost} lost.${errs.length ? ` Problems: ${errs.join('; ')}` : ''}`);
    } catch (err) {
      failed(err);
      setScanError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>Discovery</h1>
      {canOperate(me.role) && (
        <form class="scan" onSubmit={scan}>
          <label for="cidr">SSH scan range (optional, e.g. 192.168.1.0/24)</label>
          <div class="row">
            <input id="cidr" value={cidr} inputMode="decimal" onInput={(e) => setCidr(e.currentTarget.value)} />
            <button type="submit" disabled={busy}>
              {busy ? 'Scanning…' : 'Start scan'}
            </button>
          </div>
        </form>
      )}
      <p role="status" aria-live="polite">
        {report ?? ''}
      </p>
      <ErrorLine error={scanError ?? error} />
      <section aria-labelledby="hosts-h">
        <h2 id="hosts-h">Hosts {data ? `(${data.total})` : ''}</h2>
        {data && data.items.length === 0 && <p class="muted">Nothing found yet.</p>}
        {data && data.items.length > 0 && (
          <ListTable
            rows={data.items}
            rowKey={(h) => h.id}
            columns={[
              {
                label: 'Host',
                cell: (h) => (
                  <>
                    {h.hostname ?? '(no name)'}
                    {h.raspberryPi && <span class="sub">Raspberry Pi{h.model ? `: ${h.model}` : ''}</span>}
                  </>
                ),
              },
              { label: 'Address', cell: (h) => h.address },
              { label: 'State', cell: (h) => <StateBadge state={h.state} /> },
              { label: 'Seen by', cell: (h) => h.sources.join(', ') },
              { label: 'Last seen', cell: (h) => ago(h.lastSeenAt) },
              ...(canOperate(me.role)
                ? [
                    {
                      label: 'Role in a new cluster',
                      cell: (h: DiscoveryResult) => (
                        <RoleSelect
                          label={name(h)}
                          value={roles[h.address] ?? ''}
                          onChange={(r) => setRoles((x) => ({ ...x, [h.address]: r }))}
                        />
                      ),
                    },
                  ]
                : []),
            ]}
          />
        )}
      </section>
      {canOperate(me.role) && data && data.items.length > 0 && <ProvisionForm picked={picked} />}
    </>
  );
}
