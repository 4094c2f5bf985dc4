/**
 * Over real sockets, a request whose body was read gets its error answer (a regression: an
 * error after the body was consumed once went unanswered), and a malformed token request from a
 * refused source is answered by the network stage first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArmClient } from '../support/arm-client.js';
import { removeDataDir, startServer, type RunningServer } from '../support/server.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('answers after a request body', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ extraArgs: ['--log-level', 'warn'] });
  });
  afterAll(async () => {
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  const send = (path: string, init: RequestInit) =>
    fetch(`${server.url}${path}`, { ...init, signal: AbortSignal.timeout(5000) });

  it('answers a refused /oauth2/exchange and an invalid manifest', async () => {
    const exchange = await send('/oauth2/exchange', {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=access_token&service=myregistry.azurecr.localhost&access_token=bogus',
    });
    expect(exchange.status).toBe(401);
    const manifest = await send('/v2/x/manifests/v1', {
      method: 'PUT',
      headers: {
        authorization: server.authHeader,
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      },
      body: 'nope{',
    });
    expect(manifest.status).toBe(400);
    expect(((await manifest.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'MANIFEST_INVALID',
    );
  });

  it('judges a malformed token request by the network first', async () => {
    const arm = new ArmClient(server);
    const registry = `${arm.registryId()}?api-version=2023-07-01`;
    await arm.arm('PATCH', registry, {
      properties: {
        networkRuleSet: {
          defaultAction: 'Deny',
          ipRules: [{ action: 'Allow', value: '10.9.9.9' }],
        },
      },
    });
    try {
      const malformed = await send('/oauth2/exchange', {
        method: 'POST',
        headers: FORM,
        body: 'grant_type=nonsense',
      });
      expect(malformed.status).toBe(403);
      const token = await send('/oauth2/token', {
        method: 'POST',
        headers: FORM,
        body: 'grant_type=password&service=elsewhere',
      });
      expect(token.status).toBe(403);
    } finally {
      await arm.arm('PATCH', registry, {
        properties: { networkRuleSet: { defaultAction: 'Allow', ipRules: [] } },
      });
    }
    const open = await send('/oauth2/exchange', {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=nonsense',
    });
    expect(open.status).toBe(400);
  });
});
