/**
 * @module cli/profile
 * Where the CLI keeps who it is logged in as (`profile.json`) and its defaults
 * (`config.json`, `breakwater configure --defaults`), in `~/.breakwater` or
 * `BREAKWATER_CONFIG_DIR`; and what a local server left in its data directory
 * (`bootstrap.json`, `endpoints.json`).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError } from './errors.js';

export interface Profile {
  managementUrl: string;
  tenantId: string;
  subscriptionId: string;
  subscriptionName?: string;
  clientId: string;
  clientSecret: string;
  /** PEM file the management (and a TLS data) endpoint is verified against. */
  caPath?: string;
  /** `host:port` of the data endpoint, when known from the server's endpoints.json. */
  dataEndpoint?: string;
  dataTls?: boolean;
}

export interface Endpoints {
  data: string;
  dataTls: boolean;
  management: string;
  caPath: string | null;
}

export interface Bootstrap {
  tenantId: string;
  subscriptionId: string;
  clientId: string;
  clientSecret: string;
  registry?: string;
}

export function configDir(): string {
  return process.env.BREAKWATER_CONFIG_DIR ?? join(homedir(), '.breakwater');
}

export function dataDir(flag?: string): string {
  return resolve(flag ?? process.env.BREAKWATER_DATA ?? './.breakwater');
}

function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(`${file} is not valid JSON.`);
  }
}

function writePrivateJson(file: string, value: unknown): void {
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function loadProfile(): Profile | undefined {
  return readJson<Profile>(join(configDir(), 'profile.json'));
}

/** The profile, or the error az gives when nobody is logged in. */
export function requireProfile(): Profile {
  const profile = loadProfile();
  if (!profile) throw new CliError("Please run 'breakwater login' to setup account.");
  return profile;
}

export function saveProfile(profile: Profile): void {
  writePrivateJson(join(configDir(), 'profile.json'), profile);
}

export function removeProfile(): boolean {
  const file = join(configDir(), 'profile.json');
  const existed = loadProfile() !== undefined;
  rmSync(file, { force: true });
  return existed;
}

export type Defaults = Record<string, string>;

export function loadDefaults(): Defaults {
  return readJson<{ defaults?: Defaults }>(join(configDir(), 'config.json'))?.defaults ?? {};
}

export function saveDefaults(defaults: Defaults): void {
  writePrivateJson(join(configDir(), 'config.json'), { defaults });
}

export function readEndpoints(dir: string): Endpoints | undefined {
  return readJson<Endpoints>(join(dir, 'endpoints.json'));
}

export function readBootstrap(dir: string): Bootstrap | undefined {
  return readJson<Bootstrap>(join(dir, 'bootstrap.json'));
}
