import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureTlsMaterial, loadTlsFiles, trustInstructions, type TlsMaterial } from './index.js';

const run = promisify(execFile);
const DAY_MS = 24 * 60 * 60 * 1000;
const FILES = ['ca.crt', 'ca.key', 'server.crt', 'server.key'];
const NAMES = { dns: ['localhost', '*.azurecr.localhost'], ips: ['127.0.0.1', '::1'] };

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.useRealTimers();
  while (cleanup.length > 0) await cleanup.pop()?.();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'breakwater-tls-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openssl(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('openssl', args);
  return stdout + stderr;
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries = await Promise.all(
    FILES.map(async (name) => [name, await readFile(join(dir, name), 'utf8')] as const),
  );
  return Object.fromEntries(entries);
}

async function serve(material: TlsMaterial): Promise<number> {
  const server: Server = createServer({ key: material.key, cert: material.cert }, (_req, res) =>
    res.end('ok'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as AddressInfo).port;
}

function get(port: number, options: { ca?: string; servername?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ensureTlsMaterial', () => {
  it('makes a CA and a server certificate that OpenSSL verifies, with the asked-for SANs', async () => {
    const dir = await tempDir();
    const material = await ensureTlsMaterial(dir, NAMES);

    expect((await readdir(dir)).sort()).toEqual(FILES);
    expect(material).toEqual({
      ca: await readFile(join(dir, 'ca.crt'), 'utf8'),
      cert: await readFile(join(dir, 'server.crt'), 'utf8'),
      key: await readFile(join(dir, 'server.key'), 'utf8'),
      caPath: join(dir, 'ca.crt'),
      certPath: join(dir, 'server.crt'),
      keyPath: join(dir, 'server.key'),
    });

    // -x509_strict: the checks Python 3.13's default context applies (key identifiers etc.).
    const verify = ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', material.caPath];
    expect(await openssl(...verify, material.certPath)).toContain(': OK');
    expect(
      await openssl(
        ...verify,
        '-verify_hostname',
        'myregistry.azurecr.localhost',
        material.certPath,
      ),
    ).toContain(': OK');
    expect(await openssl(...verify, '-verify_ip', '::1', material.certPath)).toContain(': OK');

    const server = await openssl('x509', '-noout', '-text', '-in', material.certPath);
    expect(server).toContain('DNS:localhost');
    expect(server).toContain('DNS:*.azurecr.localhost');
    expect(server).toContain('IP Address:127.0.0.1');
    expect(server).toContain('IP Address:0:0:0:0:0:0:0:1');
    expect(server).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication\n/);
    expect(server).toMatch(/X509v3 Key Usage: critical\s*\n\s*Digital Signature\n/);
    expect(server).toMatch(/X509v3 Basic Constraints: critical\s*\n\s*CA:FALSE/);
    expect(server).toContain('X509v3 Authority Key Identifier');
    expect(server).toContain('ASN1 OID: prime256v1');
    expect(server).toContain('Signature Algorithm: ecdsa-with-SHA256');

    const ca = await openssl('x509', '-noout', '-text', '-in', material.caPath);
    expect(ca).toMatch(/Subject: CN ?= ?Breakwater Local CA [0-9a-f]{8}\n/);
    expect(ca).toMatch(/X509v3 Basic Constraints: critical\s*\n\s*CA:TRUE/);
    expect(ca).toMatch(/X509v3 Key Usage: critical\s*\n\s*Certificate Sign, CRL Sign\n/);
    expect(ca).toContain('X509v3 Subject Key Identifier');
    expect(ca).toContain('ASN1 OID: prime256v1');

    const serverCert = new X509Certificate(material.cert);
    const serverDays = (Date.parse(serverCert.validTo) - Date.parse(serverCert.validFrom)) / DAY_MS;
    expect(serverDays).toBeLessThanOrEqual(825);
    expect(serverDays).toBeGreaterThan(800);
    const caCert = new X509Certificate(material.ca);
    const caYears = (Date.parse(caCert.validTo) - Date.parse(caCert.validFrom)) / (365.25 * DAY_MS);
    expect(caYears).toBeCloseTo(10, 1);
    expect(serverCert.checkIssued(caCert)).toBe(true);
  });

  it('writes private keys with mode 0600 and leaves no temporary files', async () => {
    const dir = await tempDir();
    await ensureTlsMaterial(dir, NAMES);
    await ensureTlsMaterial(dir, { dns: ['other.test'], ips: [] });
    expect((await readdir(dir)).sort()).toEqual(FILES);
    for (const name of ['ca.key', 'server.key']) {
      expect(((await stat(join(dir, name))).mode & 0o777).toString(8)).toBe('600');
    }
    for (const name of ['ca.crt', 'server.crt']) {
      expect(((await stat(join(dir, name))).mode & 0o777).toString(8)).toBe('644');
    }
  });

  it('serves node:https that a client trusting the CA reaches and any other client refuses', async () => {
    const material = await ensureTlsMaterial(await tempDir(), NAMES);
    const port = await serve(material);

    expect(await get(port, { ca: material.ca })).toBe('ok');
    // A wildcard SAN works for a registry login server name.
    expect(await get(port, { ca: material.ca, servername: 'myregistry.azurecr.localhost' })).toBe(
      'ok',
    );

    const untrusted = await get(port).catch((error: NodeJS.ErrnoException) => error);
    expect(untrusted).toBeInstanceOf(Error);
    expect((untrusted as NodeJS.ErrnoException).code).toMatch(
      /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    );

    const wrongName = await get(port, { ca: material.ca, servername: 'elsewhere.test' }).catch(
      (error: NodeJS.ErrnoException) => error,
    );
    expect((wrongName as NodeJS.ErrnoException).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('keeps every file byte-for-byte when the requested names are already covered', async () => {
    const dir = await tempDir();
    await ensureTlsMaterial(dir, NAMES);
    const before = await snapshot(dir);

    await ensureTlsMaterial(dir, NAMES);
    // Case, a trailing dot, another IPv6 spelling, a name under the wildcard, a subset.
    await ensureTlsMaterial(dir, {
      dns: ['LOCALHOST.', 'myregistry.azurecr.localhost', '127.0.0.1'],
      ips: ['0:0:0:0:0:0:0:1'],
    });
    expect(await snapshot(dir)).toEqual(before);
  });

  it('re-issues the server certificate (not the CA) when a new name is asked for', async () => {
    const dir = await tempDir();
    await ensureTlsMaterial(dir, NAMES);
    const before = await snapshot(dir);

    const material = await ensureTlsMaterial(dir, {
      dns: [...NAMES.dns, 'registry.example.test'],
      ips: NAMES.ips,
    });
    const after = await snapshot(dir);
    expect(after['ca.crt']).toBe(before['ca.crt']);
    expect(after['ca.key']).toBe(before['ca.key']);
    expect(after['server.crt']).not.toBe(before['server.crt']);
    expect(after['server.key']).not.toBe(before['server.key']);

    const text = await openssl('x509', '-noout', '-text', '-in', material.certPath);
    expect(text).toContain('DNS:registry.example.test');
    expect(text).toContain('DNS:*.azurecr.localhost');
    expect(
      await openssl('verify', '-x509_strict', '-CAfile', material.caPath, material.certPath),
    ).toContain(': OK');
  });

  it('re-issues the server certificate when it expires within 30 days', async () => {
    const dir = await tempDir();
    await ensureTlsMaterial(dir, NAMES);
    const before = await snapshot(dir);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 790 * DAY_MS);
    await ensureTlsMaterial(dir, NAMES);
    expect(await snapshot(dir)).toEqual(before);

    vi.setSystemTime(Date.now() + 10 * DAY_MS);
    const material = await ensureTlsMaterial(dir, NAMES);
    const after = await snapshot(dir);
    expect(after['ca.crt']).toBe(before['ca.crt']);
    expect(after['server.crt']).not.toBe(before['server.crt']);
    expect(Date.parse(new X509Certificate(material.cert).validTo)).toBeGreaterThan(
      Date.now() + 800 * DAY_MS,
    );
  });

  it('makes a new CA and server certificate when the CA files are gone', async () => {
    const dir = await tempDir();
    const first = await ensureTlsMaterial(dir, NAMES);
    await rm(join(dir, 'ca.key'));

    const second = await ensureTlsMaterial(dir, NAMES);
    expect(second.ca).not.toBe(first.ca);
    expect(second.cert).not.toBe(first.cert);
    expect(
      await openssl('verify', '-x509_strict', '-CAfile', second.caPath, second.certPath),
    ).toContain(': OK');
  });

  it('refuses a damaged CA instead of silently replacing what clients trust', async () => {
    const dir = await tempDir();
    await ensureTlsMaterial(dir, NAMES);
    await writeFile(join(dir, 'ca.crt'), 'not a certificate\n');
    await expect(ensureTlsMaterial(dir, NAMES)).rejects.toThrow(join(dir, 'ca.crt'));
  });

  it('gives concurrent callers one consistent CA', async () => {
    const dir = await tempDir();
    const results = await Promise.all([
      ensureTlsMaterial(dir, NAMES),
      ensureTlsMaterial(dir, NAMES),
      ensureTlsMaterial(dir, { dns: ['localhost'], ips: [] }),
    ]);
    expect(new Set(results.map((material) => material.ca)).size).toBe(1);
    const files = await snapshot(dir);
    expect(files['ca.crt']).toBe(results[0]?.ca);
    expect(
      await openssl('verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'server.crt')),
    ).toContain(': OK');
  });

  it('rejects names no client could match', async () => {
    const dir = await tempDir();
    await expect(ensureTlsMaterial(dir, { dns: [], ips: [] })).rejects.toThrow(/at least one/);
    await expect(ensureTlsMaterial(dir, { dns: ['bad name'], ips: [] })).rejects.toThrow(
      /not a DNS name/,
    );
    await expect(ensureTlsMaterial(dir, { dns: ['*.localhost'], ips: [] })).rejects.toThrow(
      /two labels/,
    );
    await expect(ensureTlsMaterial(dir, { dns: [], ips: ['999.1.1.1'] })).rejects.toThrow(
      /not an IP address/,
    );
  });
});

describe('loadTlsFiles', () => {
  async function material(): Promise<TlsMaterial> {
    return ensureTlsMaterial(await tempDir(), NAMES);
  }

  it('returns a matching pair and the CA as read', async () => {
    const m = await material();
    expect(await loadTlsFiles(m.certPath, m.keyPath)).toEqual({ cert: m.cert, key: m.key });
    expect(await loadTlsFiles(m.certPath, m.keyPath, m.caPath)).toEqual({
      cert: m.cert,
      key: m.key,
      ca: m.ca,
    });
  });

  it('accepts a chain file whose first certificate is the key’s', async () => {
    const m = await material();
    const chain = join(await tempDir(), 'chain.pem');
    await writeFile(chain, m.cert + m.ca);
    expect((await loadTlsFiles(chain, m.keyPath)).cert).toBe(m.cert + m.ca);
  });

  it('names the missing file', async () => {
    const m = await material();
    const missing = join(await tempDir(), 'nope.crt');
    await expect(loadTlsFiles(missing, m.keyPath)).rejects.toThrow(
      `TLS certificate file ${missing} does not exist`,
    );
    await expect(loadTlsFiles(m.certPath, missing)).rejects.toThrow(
      `TLS private key file ${missing} does not exist`,
    );
    await expect(loadTlsFiles(m.certPath, m.keyPath, missing)).rejects.toThrow(
      `TLS CA certificate file ${missing} does not exist`,
    );
  });

  it('names the file holding garbage', async () => {
    const m = await material();
    const garbage = join(await tempDir(), 'garbage.pem');
    await writeFile(garbage, 'hello\n');
    await expect(loadTlsFiles(garbage, m.keyPath)).rejects.toThrow(
      `TLS certificate file ${garbage} holds no PEM certificate`,
    );
    await expect(loadTlsFiles(m.certPath, garbage)).rejects.toThrow(
      `TLS private key file ${garbage} holds no readable PEM private key`,
    );
    await expect(loadTlsFiles(m.certPath, m.keyPath, garbage)).rejects.toThrow(
      `TLS CA certificate file ${garbage} holds no PEM certificate`,
    );

    const broken = join(await tempDir(), 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    await expect(loadTlsFiles(broken, m.keyPath)).rejects.toThrow(
      `TLS certificate file ${broken}: certificate 1 does not parse`,
    );
  });

  it('names both files when the key is not the certificate’s, and spots a swap', async () => {
    const m = await material();
    const caKey = join(m.caPath, '..', 'ca.key');
    await expect(loadTlsFiles(m.certPath, caKey)).rejects.toThrow(
      `TLS private key file ${caKey} does not match the certificate in ${m.certPath}`,
    );
    await expect(loadTlsFiles(m.keyPath, m.certPath)).rejects.toThrow(/swapped/);
  });
});

describe('trustInstructions', () => {
  it('tells each client how to trust the CA, in one paragraph', () => {
    const text = trustInstructions('/data/tls/ca.crt', ['localhost:5443', '127.0.0.1:5443']);
    expect(text).not.toContain('\n');
    expect(text).toContain('NODE_EXTRA_CA_CERTS=/data/tls/ca.crt');
    expect(text).toContain('REQUESTS_CA_BUNDLE=/data/tls/ca.crt');
    expect(text).toContain('/etc/containers/certs.d/localhost:5443/ca.crt');
    expect(text).toContain('/etc/containers/certs.d/127.0.0.1:5443/ca.crt');
    expect(text).toContain('--cert-dir');
    expect(text).toContain('curl --cacert /data/tls/ca.crt https://localhost:5443/v2/');
  });
});
