/**
 * TLS settings a scanner would pass, probed with the real `openssl s_client` against both
 * listeners of a running server (management, and the data endpoint with --data-tls): TLS 1.0 and
 * 1.1 refused (the client's own security level lowered so the refusal is the server's), CBC and
 * static-RSA suites refused over TLS 1.2, and what is negotiated is TLS 1.2/1.3 with an AEAD
 * suite.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  requireClient,
  removeDataDir,
  startServer,
  type RunningServer,
} from '../support/server.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

interface Handshake {
  ok: boolean;
  protocol?: string;
  cipher?: string;
}

function handshake(hostPort: string, args: string[]): Handshake {
  const result = spawnSync(
    'openssl',
    ['s_client', '-connect', hostPort, '-servername', 'localhost', ...args],
    { input: '', encoding: 'utf8', timeout: 20_000 },
  );
  const output = `${result.stdout}${result.stderr}`;
  const protocol =
    /Protocol\s*:\s*(\S+)/.exec(output)?.[1] ?? /New, (TLSv[\d.]+)/.exec(output)?.[1];
  const cipher = /Cipher\s*(?:is|:)\s*(\S+)/.exec(output)?.[1];
  const ok = cipher !== undefined && cipher !== '0000' && cipher !== '(NONE)';
  return { ok, ...(protocol ? { protocol } : {}), ...(cipher ? { cipher } : {}) };
}

describe.runIf(requireClient('openssl', hasOpenssl))('TLS a scanner would pass', () => {
  let server: RunningServer;
  let listeners: Array<[string, string]>;

  beforeAll(async () => {
    server = await startServer({
      scheme: 'https',
      extraArgs: ['--data-tls', '--log-level', 'warn'],
    });
    listeners = [
      ['management', new URL(server.managementUrl).host],
      ['data', `127.0.0.1:${server.port}`],
    ];
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('refuses TLS 1.0 and 1.1', () => {
    for (const [, hostPort] of listeners) {
      for (const version of ['-tls1', '-tls1_1']) {
        expect(handshake(hostPort, [version, '-cipher', 'DEFAULT:@SECLEVEL=0']).ok).toBe(false);
      }
    }
  });

  it('refuses CBC and static-RSA suites over TLS 1.2', () => {
    for (const [, hostPort] of listeners) {
      for (const cipher of [
        'ECDHE-ECDSA-AES128-SHA',
        'ECDHE-ECDSA-AES256-SHA384',
        'ECDHE-ECDSA-AES128-SHA256',
        'AES128-GCM-SHA256',
        'AES256-SHA',
        'DES-CBC3-SHA',
      ]) {
        expect(
          handshake(hostPort, ['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`]).ok,
          cipher,
        ).toBe(false);
      }
    }
  });

  it('negotiates TLS 1.2 and 1.3 with forward-secret AEAD suites only', () => {
    for (const [name, hostPort] of listeners) {
      const v12 = handshake(hostPort, ['-tls1_2']);
      expect(v12.ok, name).toBe(true);
      expect(v12.cipher, name).toMatch(/^ECDHE-(ECDSA|RSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
      const v13 = handshake(hostPort, ['-tls1_3']);
      expect(v13.ok, name).toBe(true);
      expect(v13.cipher, name).toMatch(/^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/);
    }
  });
});
