/**
 * Sign-in with a service principal: client id and secret (and the tenant when the principal is
 * not in the default one). On a fresh install the owner's are in `<data>/bootstrap.json`.
 */
import { useState } from 'preact/hooks';
import { errorText, signIn, type Session } from '../api.js';
import { ErrorAlert } from '../error-alert.js';

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [clientId, setClientId] = useState('');
  const [secret, setSecret] = useState('');
  const [tenant, setTenant] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(clientId, secret, tenant));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="sign-in">
      <h1>Sign in to Breakwater</h1>
      <p>
        Sign in with a service principal. On a fresh install, the owner's client ID and secret are
        in <code>bootstrap.json</code> in the server's data directory.
      </p>
      <form onSubmit={submit}>
        <label for="client-id">Client ID</label>
        <input
          id="client-id"
          name="clientId"
          autocomplete="username"
          required
          value={clientId}
          onInput={(e) => setClientId(e.currentTarget.value)}
        />
        <label for="client-secret">Client secret</label>
        <input
          id="client-secret"
          name="clientSecret"
          type="password"
          autocomplete="current-password"
          required
          value={secret}
          onInput={(e) => setSecret(e.currentTarget.value)}
        />
        <label for="tenant-id">Tenant ID (optional)</label>
        <input
          id="tenant-id"
          name="tenantId"
          value={tenant}
          onInput={(e) => setTenant(e.currentTarget.value)}
        />
        <ErrorAlert text={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
