/**
 * Networking, as ACR's portal words it: "Public network access" (All networks / Selected
 * networks / Disabled), the firewall's address ranges, the firewall exception for trusted
 * services, Save and Discard; and private endpoint connections (approve / reject, applied at
 * once). The blade says what the draft will do before Save, and puts the API's validation
 * message next to the setting it is about.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  arm,
  errorText,
  type IpRule,
  type PrivateEndpointConnection,
  type Registry,
} from '../api.js';
import type { RegistryRef } from './registry-blades.js';
import { ErrorAlert } from '../error-alert.js';
import { HeadWithActions } from '../table-parts.js';

type Access = 'all' | 'selected' | 'disabled';

interface Draft {
  access: Access;
  ranges: string[];
  trusted: boolean;
}

const ACCESS_LABELS: Record<Access, string> = {
  all: 'All networks',
  selected: 'Selected networks',
  disabled: 'Disabled',
};

function draftOf(registry: Registry): Draft {
  const p = registry.properties;
  return {
    access:
      p.publicNetworkAccess === 'Disabled'
        ? 'disabled'
        : p.networkRuleSet?.defaultAction === 'Deny'
          ? 'selected'
          : 'all',
    ranges: (p.networkRuleSet?.ipRules ?? []).map((r) => r.value),
    trusted: p.networkRuleBypassOptions !== 'None',
  };
}

/** The PATCH that turns `saved` into `draft`: only what changed. */
function patchFor(saved: Draft, draft: Draft): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const publicAccess = draft.access === 'disabled' ? 'Disabled' : 'Enabled';
  if (publicAccess !== (saved.access === 'disabled' ? 'Disabled' : 'Enabled'))
    properties.publicNetworkAccess = publicAccess;
  // Disabled keeps the firewall closed too (the CLI does the same), so re-enabling public
  // access later does not silently open the registry to all networks.
  const defaultAction = draft.access === 'all' ? 'Allow' : 'Deny';
  const savedDefault = saved.access === 'all' ? 'Allow' : 'Deny';
  if (defaultAction !== savedDefault || draft.ranges.join() !== saved.ranges.join()) {
    const ipRules: IpRule[] = draft.ranges.map((value) => ({ action: 'Allow', value }));
    properties.networkRuleSet = { defaultAction, ipRules };
  }
  if (draft.trusted !== saved.trusted)
    properties.networkRuleBypassOptions = draft.trusted ? 'AzureServices' : 'None';
  return properties;
}

function changesOf(saved: Draft, draft: Draft): string[] {
  const changes: string[] = [];
  if (saved.access !== draft.access)
    changes.push(
      `Public network access: ${ACCESS_LABELS[saved.access]} → ${ACCESS_LABELS[draft.access]}`,
    );
  for (const r of draft.ranges) if (!saved.ranges.includes(r)) changes.push(`Add range ${r}`);
  for (const r of saved.ranges) if (!draft.ranges.includes(r)) changes.push(`Remove range ${r}`);
  if (saved.trusted !== draft.trusted)
    changes.push(`Trusted services: ${draft.trusted ? 'allow' : 'no longer allow'}`);
  return changes;
}

/** What the draft will do, in words, before Save. */
function effectOf(draft: Draft): string[] {
  const trusted = draft.trusted
    ? 'Trusted services (container instances and machine learning workspaces using a managed identity that holds a role on this registry) can reach it whatever the rules say.'
    : 'Trusted services get no exception: they are refused like any other client outside the rules.';
  switch (draft.access) {
    case 'all':
      return [
        'All networks: any client on any network can reach the public endpoint (it still needs credentials). Firewall ranges are not applied.',
      ];
    case 'selected':
      return [
        draft.ranges.length === 0
          ? 'Selected networks with no address ranges: no client can reach the public endpoint; only private endpoints can reach this registry.'
          : `Selected networks: only clients from ${draft.ranges.length === 1 ? 'the address range' : `the ${draft.ranges.length} address ranges`} below, and private endpoints, can reach this registry.`,
        trusted,
      ];
    case 'disabled':
      return [
        draft.trusted
          ? 'Disabled: only private endpoints and trusted services can reach this registry. The public endpoint refuses every other client, whatever the firewall ranges say.'
          : 'Disabled: only private endpoints can reach this registry. The public endpoint refuses every client, trusted services included.',
        trusted,
      ];
  }
}

export function Networking({
  registry,
  registryRef,
  reload,
}: {
  registry: Registry;
  registryRef: RegistryRef;
  reload: () => Promise<Registry | undefined>;
}) {
  const saved = draftOf(registry);
  const [draft, setDraft] = useState<Draft>(saved);
  const [newRange, setNewRange] = useState('');
  const [clientAddress, setClientAddress] = useState<string>();
  const [firewallError, setFirewallError] = useState<string>();
  const [saveError, setSaveError] = useState<string>();
  const [status, setStatus] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    arm<{ ipAddress: string }>('GET', `${registryRef.path}/clientAddress`)
      .then((r) => setClientAddress(r.ipAddress))
      .catch(() => setClientAddress(undefined));
  }, []);

  const changes = changesOf(saved, draft);
  const update = (change: Partial<Draft>) => {
    setDraft({ ...draft, ...change });
    setStatus(undefined);
  };

  function addRange(value: string) {
    const range = value.trim();
    setFirewallError(undefined);
    if (!range) return;
    if (draft.ranges.includes(range)) {
      setFirewallError(`${range} is already in the list.`);
      return;
    }
    update({ ranges: [...draft.ranges, range] });
    setNewRange('');
  }

  async function save() {
    setBusy(true);
    setSaveError(undefined);
    setFirewallError(undefined);
    try {
      await arm('PATCH', registryRef.path, undefined, { properties: patchFor(saved, draft) });
      const fresh = await reload();
      if (fresh) setDraft(draftOf(fresh));
      setStatus('Saved. The new settings apply to the next request.');
    } catch (e) {
      const message = errorText(e);
      // The API's message goes next to what it is about.
      if (e instanceof ApiError && /ip rule|ipRules|address/i.test(`${e.code} ${message}`))
        setFirewallError(message);
      else setSaveError(message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="networking">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {registry.sku.name !== 'Premium' && (
          <p class="hint" id="sku-note">
            This registry is {registry.sku.name}: firewall ranges and turning public access off need
            the Premium SKU, so the API refuses them here.
          </p>
        )}
        <fieldset>
          <legend>Public network access</legend>
          {(Object.keys(ACCESS_LABELS) as Access[]).map((access) => (
            <label key={access} class="choice">
              <input
                type="radio"
                name="public-network-access"
                value={access}
                checked={draft.access === access}
                onChange={() => update({ access })}
              />
              {ACCESS_LABELS[access]}
            </label>
          ))}
        </fieldset>

        <div class="effect" aria-live="polite" data-testid="effect">
          {effectOf(draft).map((line) => (
            <p key={line}>{line}</p>
          ))}
        </div>

        {draft.access === 'selected' && (
          <fieldset>
            <legend>Firewall</legend>
            <p class="hint">
              Address ranges allowed to reach the public endpoint (IPv4 or IPv6, an address or CIDR
              range).
            </p>
            {draft.ranges.length === 0 ? (
              <p>No address ranges.</p>
            ) : (
              <ul class="ranges" aria-label="Allowed address ranges">
                {draft.ranges.map((range) => (
                  <li key={range}>
                    <code>{range}</code>
                    <button
                      type="button"
                      aria-label={`Remove address range ${range}`}
                      onClick={() => update({ ranges: draft.ranges.filter((r) => r !== range) })}
                    >
                      Remove
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <div class="row">
              <label for="new-range">Address range</label>
              <input
                id="new-range"
                placeholder="e.g. 203.0.113.0/24"
                value={newRange}
                aria-describedby={firewallError ? 'firewall-error' : undefined}
                onInput={(e) => setNewRange(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') {
                    e.preventDefault();
                    addRange(newRange);
                  }
                }}
              />
              <button type="button" onClick={() => addRange(newRange)}>
                Add range
              </button>
            </div>
            {clientAddress && (
              <button
                type="button"
                disabled={draft.ranges.includes(clientAddress)}
                onClick={() => addRange(clientAddress)}
              >
                Add your client IP address ({clientAddress})
              </button>
            )}
            {firewallError && (
              <p class="error" role="alert" id="firewall-error">
                {firewallError}
              </p>
            )}
          </fieldset>
        )}

        {draft.access !== 'all' && (
          <fieldset>
            <legend>Firewall exception</legend>
            <label class="choice">
              <input
                type="checkbox"
                name="trusted-services"
                checked={draft.trusted}
                onChange={(e) => update({ trusted: e.currentTarget.checked })}
              />
              Allow trusted Microsoft services to access this container registry
            </label>
          </fieldset>
        )}

        {changes.length > 0 && (
          <div class="pending">
            <h3>Unsaved changes</h3>
            <ul>
              {changes.map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
          </div>
        )}
        <ErrorAlert text={saveError} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || changes.length === 0}>
            Save
          </button>
          <button
            type="button"
            disabled={busy || changes.length === 0}
            onClick={() => {
              setDraft(saved);
              setSaveError(undefined);
              setFirewallError(undefined);
              setStatus('Changes discarded.');
            }}
          >
            Discard
          </button>
          <span role="status" class="status">
            {status}
          </span>
        </div>
      </form>
      <PrivateEndpoints registryRef={registryRef} />
    </div>
  );
}

function PrivateEndpoints({ registryRef }: { registryRef: RegistryRef }) {
  const [connections, setConnections] = useState<PrivateEndpointConnection[]>();
  const [error, setError] = useState<string>();
  const path = `${registryRef.path}/privateEndpointConnections`;

  async function load() {
    try {
      setConnections((await arm<{ value: PrivateEndpointConnection[] }>('GET', path)).value);
    } catch (e) {
      setError(errorText(e));
    }
  }
  useEffect(() => {
    void load();
  }, []);

  async function decide(connection: PrivateEndpointConnection, status: 'Approved' | 'Rejected') {
    setError(undefined);
    try {
      await arm('PUT', `${path}/${encodeURIComponent(connection.name)}`, undefined, {
        properties: {
          privateLinkServiceConnectionState: { status, description: `${status} in the portal` },
        },
      });
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section aria-labelledby="pe-title">
      <h3 id="pe-title">Private endpoint connections</h3>
      <p class="hint">Approving or rejecting a connection applies at once.</p>
      <ErrorAlert text={error} />
      {connections && connections.length === 0 && <p>No private endpoint connections.</p>}
      {connections && connections.length > 0 && (
        <table>
          <HeadWithActions columns={['Connection', 'Private endpoint', 'State']} />
          <tbody>
            {connections.map((c) => {
              const state = c.properties.privateLinkServiceConnectionState.status;
              return (
                <tr key={c.id}>
                  <td>{c.name}</td>
                  <td>{c.properties.privateEndpoint?.id.split('/').at(-1)}</td>
                  <td>{state}</td>
                  <td>
                    {state === 'Pending' && (
                      <button
                        type="button"
                        aria-label={`Approve ${c.name}`}
                        onClick={() => void decide(c, 'Approved')}
                      >
                        Approve
                      </button>
                    )}
                    {state !== 'Rejected' && (
                      <button
                        type="button"
                        aria-label={`Reject ${c.name}`}
                        onClick={() => void decide(c, 'Rejected')}
                      >
                        Reject
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
