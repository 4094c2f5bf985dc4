/**
 * One registry: its navigation (Overview, Repositories, Networking, Access log, Access control,
 * Identity, Tasks)
 * and the Overview blade (login server, SKU, repositories, storage used, recent pushes).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  arm,
  errorText,
  formatBytes,
  formatTime,
  registryPath,
  type Registry,
  type Repository,
} from '../api.js';
import { AccessControl } from './access-control.js';
import { AccessLog } from './access-log.js';
import { Identity } from './identity.js';
import { Networking } from './networking.js';
import { networkSummary } from './registries.js';
import { Repositories } from './repositories.js';
import { Tasks } from './tasks.js';
import { ErrorAlert } from '../error-alert.js';

const BLADES = [
  ['overview', 'Overview'],
  ['repositories', 'Repositories'],
  ['networking', 'Networking'],
  ['access-log', 'Access log'],
  ['access-control', 'Access control (IAM)'],
  ['identity', 'Identity'],
  ['tasks', 'Tasks'],
] as const;

export interface RegistryRef {
  subscription: string;
  group: string;
  name: string;
  /** The registry's ARM path. */
  path: string;
}

export function RegistryBlades(props: {
  subscription: string;
  group: string;
  name: string;
  blade: string;
}) {
  const ref: RegistryRef = {
    ...props,
    path: registryPath(props.subscription, props.group, props.name),
  };
  const [registry, setRegistry] = useState<Registry>();
  const [error, setError] = useState<string>();

  async function reload(): Promise<Registry | undefined> {
    try {
      const loaded = await arm<Registry>('GET', ref.path);
      setRegistry(loaded);
      setError(undefined);
      return loaded;
    } catch (e) {
      setError(errorText(e));
      return undefined;
    }
  }
  useEffect(() => {
    void reload();
  }, []);

  const base = `#/registry/${props.subscription}/${props.group}/${props.name}`;
  const blade = BLADES.find(([key]) => key === props.blade) ?? BLADES[0];
  return (
    <div class="registry">
      <nav class="blades" aria-label={`Registry ${props.name}`}>
        <p class="crumbs">
          <a href="#/registries">Container registries</a> ›
        </p>
        <h1 class="registry-name">{props.name}</h1>
        <ul>
          {BLADES.map(([key, label]) => (
            <li key={key}>
              <a href={`${base}/${key}`} aria-current={key === blade[0] ? 'page' : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section class="blade" aria-labelledby="blade-title">
        <h2 id="blade-title">{blade[1]}</h2>
        <ErrorAlert text={error} />
        {registry &&
          (blade[0] === 'overview' ? (
            <Overview registry={registry} registryRef={ref} />
          ) : blade[0] === 'repositories' ? (
            <Repositories registryRef={ref} />
          ) : blade[0] === 'networking' ? (
            <Networking registry={registry} registryRef={ref} reload={reload} />
          ) : blade[0] === 'access-log' ? (
            <AccessLog registryRef={ref} />
          ) : blade[0] === 'access-control' ? (
            <AccessControl registry={registry} />
          ) : blade[0] === 'identity' ? (
            <Identity registry={registry} reload={reload} />
          ) : (
            <Tasks registryRef={ref} />
          ))}
      </section>
    </div>
  );
}

function Overview({ registry, registryRef }: { registry: Registry; registryRef: RegistryRef }) {
  const [repositories, setRepositories] = useState<Repository[]>();
  const [usage, setUsage] = useState<{ currentValue: number; limit: number }>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    arm<{ value: Repository[] }>('GET', `${registryRef.path}/repositories`)
      .then(({ value }) => setRepositories(value))
      .catch((e: unknown) => setError(errorText(e)));
    arm<{ value: { name: string; currentValue: number; limit: number }[] }>(
      'GET',
      `${registryRef.path}/listUsages`,
    )
      .then(({ value }) => setUsage(value.find((u) => u.name === 'Size')))
      .catch((e: unknown) => setError(errorText(e)));
  }, []);

  const p = registry.properties;
  const recent = [...(repositories ?? [])]
    .sort((a, b) => b.lastUpdateTime.localeCompare(a.lastUpdateTime))
    .slice(0, 5);
  return (
    <>
      <ErrorAlert text={error} />
      <dl class="essentials">
        <dt>Login server</dt>
        <dd>
          <code>{p.loginServer}</code>
        </dd>
        <dt>SKU</dt>
        <dd>{registry.sku.name}</dd>
        <dt>Resource group</dt>
        <dd>{registryRef.group}</dd>
        <dt>Location</dt>
        <dd>{registry.location}</dd>
        <dt>Created</dt>
        <dd>{formatTime(p.creationDate)}</dd>
        <dt>Public network access</dt>
        <dd>{networkSummary(registry)}</dd>
        <dt>Trusted services</dt>
        <dd>{p.networkRuleBypassOptions === 'AzureServices' ? 'Allowed' : 'Not allowed'}</dd>
        <dt>Repositories</dt>
        <dd>{repositories ? repositories.length : '…'}</dd>
        <dt>Storage used</dt>
        <dd>
          {usage
            ? `${formatBytes(usage.currentValue)} of ${formatBytes(usage.limit)} included`
            : '…'}
        </dd>
      </dl>
      <h3>Recent pushes</h3>
      {repositories && recent.length === 0 ? (
        <p>Nothing pushed yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Last push</th>
              <th scope="col">Tags</th>
              <th scope="col">Manifests</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((r) => (
              <tr key={r.name}>
                <td>{r.name}</td>
                <td>{formatTime(r.lastUpdateTime)}</td>
                <td>{r.tagCount}</td>
                <td>{r.manifestCount}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
