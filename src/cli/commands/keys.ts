/**
 * @module cli/commands/keys
 * `keys rotate`: the operator's path to rotating the platform's JWT signing keys without
 * downtime. It runs on the server's machine against its data directory: writes a new key per
 * purpose (identity, registry), removes keys replaced long enough ago that nothing they signed
 * is still valid, and sends the running server (pid from `<data>/endpoints.json`) SIGHUP so
 * the new keys sign at once (it also re-reads them every minute).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config.js';
import { KEY_PURPOSES, rotateSigningKeys, type KeyPurpose } from '../../identity/index.js';
import { CliError } from '../errors.js';
import { print, type GlobalOptions } from '../output.js';
import { withGlobals } from './common.js';

interface RotateOptions extends GlobalOptions {
  data?: string;
  purpose?: KeyPurpose;
}

interface Rotation {
  purpose: KeyPurpose;
  signingKeyId: string;
  retiredKeyIds: string[];
}

/** Signals the server using `data` to reload its keys; false when none is running. */
function signalServer(data: string): boolean {
  let pid: number | undefined;
  try {
    pid = (JSON.parse(readFileSync(join(data, 'endpoints.json'), 'utf8')) as { pid?: number }).pid;
  } catch {
    return false;
  }
  if (!pid) return false;
  try {
    process.kill(pid, 'SIGHUP');
    return true;
  } catch {
    return false;
  }
}

async function rotate(options: RotateOptions): Promise<void> {
  const { data } = loadConfig({ flags: { data: options.data } });
  const purposes = options.purpose ? [options.purpose] : KEY_PURPOSES;
  const rotations: Rotation[] = [];
  for (const purpose of purposes) {
    const { kid, retired } = await rotateSigningKeys(join(data, 'keys'), purpose).catch(
      (error: unknown) => {
        throw new CliError(`cannot rotate the ${purpose} keys in ${data}: ${String(error)}`);
      },
    );
    rotations.push({ purpose, signingKeyId: kid, retiredKeyIds: retired });
  }
  print({ rotations, serverSignalled: signalServer(data) }, options);
}

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description("rotate the platform's JWT signing keys");
  withGlobals(
    keys
      .command('rotate')
      .description(
        'write new signing keys (they sign from now on; replaced keys verify until their tokens expire)',
      )
      .option('--data <dir>', 'data directory of the server (env BREAKWATER_DATA)')
      .option('--purpose <purpose>', 'identity or registry (default: both)'),
  ).action(async (options: RotateOptions) => {
    if (options.purpose && !KEY_PURPOSES.includes(options.purpose)) {
      throw new CliError(`--purpose must be one of ${KEY_PURPOSES.join(', ')}`);
    }
    await rotate(options);
  });
}
