/**
 * The portal's shell: sign-in, then a hash route per page (`#/registries`,
 * `#/registry/{subscription}/{group}/{name}/{blade}`, `#/container-groups`, `#/ml`), so the
 * server only serves static files.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSession, saveSession, whenSignedOut, type Session } from './api.js';
import { SignIn } from './pages/sign-in.js';
import { ContainerGroups } from './pages/container-groups.js';
import { MlJobs } from './pages/ml-jobs.js';
import { Registries } from './pages/registries.js';
import { RegistryBlades } from './pages/registry-blades.js';
import './styles.css';

interface Route {
  page: 'registries' | 'registry' | 'container-groups' | 'ml';
  subscription?: string;
  group?: string;
  name?: string;
  blade?: string;
}

function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'registry' && parts.length >= 4) {
    return {
      page: 'registry',
      subscription: parts[1]!,
      group: parts[2]!,
      name: parts[3]!,
      blade: parts[4] ?? 'overview',
    };
  }
  if (parts[0] === 'container-groups' || parts[0] === 'ml') return { page: parts[0] };
  return { page: 'registries' };
}

const SERVICES = [
  ['registries', 'Container registries'],
  ['container-groups', 'Container instances'],
  ['ml', 'Machine learning'],
] as const;

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession());
  const [route, setRoute] = useState<Route>(parseHash(location.hash));

  useEffect(() => {
    const onHash = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', onHash);
    whenSignedOut(() => setSession(undefined));
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  return (
    <>
      <header class="topbar">
        <a class="brand" href="#/registries">
          Breakwater
        </a>
        <nav aria-label="Services">
          {SERVICES.map(([page, label]) => (
            <a
              key={page}
              href={`#/${page}`}
              aria-current={
                route.page === page || (page === 'registries' && route.page === 'registry')
                  ? 'page'
                  : undefined
              }
            >
              {label}
            </a>
          ))}
        </nav>
        <span class="who" title={`tenant ${session.tenantId}`}>
          Signed in as <code>{session.clientId}</code>
        </span>
        <button
          type="button"
          class="link"
          onClick={() => {
            saveSession(undefined);
            setSession(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        {route.page === 'registry' ? (
          <RegistryBlades
            key={`${route.subscription}/${route.group}/${route.name}`}
            subscription={route.subscription!}
            group={route.group!}
            name={route.name!}
            blade={route.blade!}
          />
        ) : route.page === 'container-groups' ? (
          <ContainerGroups />
        ) : route.page === 'ml' ? (
          <MlJobs />
        ) : (
          <Registries />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
