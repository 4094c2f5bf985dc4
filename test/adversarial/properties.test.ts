/**
 * Property-based tests (fast-check) of the parsers that stand between a hostile client and the
 * access decision: the IP-rule engine against a plain bit-by-bit reference matcher, the client
 * address resolver against forged forwarding headers, and the name, tag, digest and route
 * parsers against the OCI distribution-spec grammar (its regular expressions, copied here from
 * the spec text, not from src/).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../../src/core/errors.js';
import { isValidRepositoryName, isValidTag, parseReference } from '../../src/core/reference.js';
import { ClientAddressResolver } from '../../src/network/client-address.js';
import { IpRuleSet, parseAddress } from '../../src/network/ip-rules.js';
import { matchRoute } from '../../src/registry/routes.js';

// --- a reference matcher: addresses as arrays of bits, compared one bit at a time ---

type Family = 4 | 6;
interface Addr {
  family: Family;
  /** Bytes (4 or 16). */
  bytes: number[];
}

function bits(address: Addr): number[] {
  return address.bytes.flatMap((byte) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (byte >> i) & 1));
}

function format(address: Addr): string {
  if (address.family === 4) return address.bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push(((address.bytes[i]! << 8) | address.bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/** The IPv4 inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else the address itself. */
function unmapped(address: Addr): Addr {
  const b = address.bytes;
  if (
    address.family === 6 &&
    b.slice(0, 10).every((x) => x === 0) &&
    b[10] === 0xff &&
    b[11] === 0xff
  ) {
    return { family: 4, bytes: b.slice(12) };
  }
  return address;
}

function referenceMatch(address: Addr, rules: Array<{ address: Addr; prefix: number }>): boolean {
  const client = unmapped(address);
  return rules.some(({ address: network, prefix }) => {
    let rule = network;
    let length = prefix;
    if (unmapped(network).family === 4 && network.family === 6) {
      rule = unmapped(network);
      length = Math.max(prefix - 96, 0);
    }
    if (rule.family !== client.family) return false;
    const a = bits(client);
    const n = bits(rule);
    for (let i = 0; i < length; i += 1) if (a[i] !== n[i]) return false;
    return true;
  });
}

const byte = fc.integer({ min: 0, max: 255 });
const ipv4 = fc
  .array(byte, { minLength: 4, maxLength: 4 })
  .map((b): Addr => ({ family: 4, bytes: b }));
const ipv6 = fc
  .array(byte, { minLength: 16, maxLength: 16 })
  .map((b): Addr => ({ family: 6, bytes: b }));
const mapped = ipv4.map((v4): Addr => ({
  family: 6,
  bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4.bytes],
}));
const anyAddress = fc.oneof(ipv4, ipv6, mapped);
const rule = anyAddress.chain((address) =>
  fc.record({
    address: fc.constant(address),
    prefix: fc.integer({ min: 0, max: address.family === 4 ? 32 : 128 }),
  }),
);
/** A client near a rule: the rule's address with some low bits flipped, so matches are common. */
const nearby = (rules: Array<{ address: Addr }>) =>
  fc.oneof(
    anyAddress,
    fc
      .tuple(fc.constantFrom(...rules.map((r) => r.address)), fc.integer({ min: 0, max: 255 }))
      .map(([address, noise]) => {
        const bytes = [...address.bytes];
        bytes[bytes.length - 1] = bytes.at(-1)! ^ noise;
        if (noise & 1) bytes[bytes.length - 2] = bytes.at(-2)! ^ 0x80;
        return { family: address.family, bytes };
      }),
  );

describe('IP rules against a reference matcher', () => {
  it('admits exactly the addresses the reference admits (IPv4, IPv6, IPv4-mapped)', () => {
    fc.assert(
      fc.property(
        fc
          .array(rule, { minLength: 1, maxLength: 12 })
          .chain((rules) =>
            fc.tuple(fc.constant(rules), fc.array(nearby(rules), { minLength: 1, maxLength: 20 })),
          ),
        ([rules, clients]) => {
          const set = new IpRuleSet(rules.map((r) => `${format(r.address)}/${r.prefix}`));
          for (const client of clients) {
            const parsed = parseAddress(format(client));
            expect(parsed).toBeDefined();
            expect(Boolean(set.match(parsed!))).toBe(referenceMatch(client, rules));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses rules that are not addresses or ranges instead of matching everything', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        let set: IpRuleSet | undefined;
        try {
          set = new IpRuleSet([text]);
        } catch (error) {
          expect(error).toBeInstanceOf(RangeError);
          return;
        }
        // Whatever parsed is a real range: it cannot admit both of two opposite addresses
        // unless it is a /0.
        const low =
          set.match(parseAddress('0.0.0.0')!) && set.match(parseAddress('255.255.255.255')!);
        if (low) expect(text.trim()).toMatch(/\/0$/);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('forwarded addresses from untrusted peers', () => {
  const resolver = new ClientAddressResolver(['192.0.2.0/24']);
  const header = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.array(anyAddress.map(format), { maxLength: 5 }).map((a) => a.join(', ')),
    anyAddress.map((a) => `for="[${format(a)}]:443";proto=https`),
  );

  it('judges an untrusted peer by its own address, whatever headers it sends', () => {
    fc.assert(
      fc.property(
        ipv4.filter((a) => a.bytes[0] !== 192 || a.bytes[1] !== 0 || a.bytes[2] !== 2),
        header,
        header,
        (peer, xff, forwarded) => {
          const resolved = resolver.resolve(format(peer), {
            'x-forwarded-for': xff,
            forwarded,
          });
          expect(resolved.address).toBe(format(peer));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never lets a trusted proxy chain name a proxy address as the client when a client is given', () => {
    fc.assert(
      fc.property(ipv4, (client) => {
        const inProxyRange =
          client.bytes[0] === 192 && client.bytes[1] === 0 && client.bytes[2] === 2;
        const resolved = resolver.resolve('192.0.2.10', {
          'x-forwarded-for': `${format(client)}, 192.0.2.11`,
        });
        expect(resolved.address).toBe(format(client));
        if (!inProxyRange) expect(resolved.forwardedFor).toContain(format(client));
      }),
      { numRuns: 300 },
    );
  });
});

// --- the OCI distribution-spec grammar, as the spec writes it ---
const SPEC_NAME = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const SPEC_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SPEC_DIGEST = /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Strings over the characters that matter to the grammar, plus hostile ones. */
const grammarish = fc
  .array(
    fc.constantFrom(
      'a',
      'b',
      'z',
      '0',
      '9',
      'A',
      'Z',
      '.',
      '_',
      '__',
      '-',
      '--',
      '/',
      ':',
      '+',
      '=',
      '..',
      '%2e',
      '%2F',
      '\u0000',
      '\u202e',
      'é',
      'ｆ',
      ' ',
      '\n',
      '\\',
      '@',
      '#',
      '?',
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

describe('names, tags and references against the spec grammar', () => {
  it('accepts a repository name exactly when the spec grammar does (and the length fits)', () => {
    fc.assert(
      fc.property(grammarish, (name) => {
        expect(isValidRepositoryName(name)).toBe(SPEC_NAME.test(name) && name.length <= 255);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts a tag exactly when the spec grammar does', () => {
    fc.assert(
      fc.property(fc.oneof(grammarish, fc.string({ maxLength: 140 })), (tag) => {
        expect(isValidTag(tag)).toBe(SPEC_TAG.test(tag));
      }),
      { numRuns: 5000 },
    );
  });

  it('reads a reference as a tag or a registered digest, and refuses anything else with a 4xx', () => {
    const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
    const reference = fc.oneof(
      grammarish,
      hex.map((h) => `sha256:${h}`),
      hex.map((h) => `sha512:${h}${h}`),
      hex.map((h) => `md5:${h}`),
      hex.map((h) => `sha256+b64u:${h}`),
      hex.map((h) => `SHA256:${h}`),
    );
    fc.assert(
      fc.property(reference, (value) => {
        let parsed: ReturnType<typeof parseReference> | undefined;
        try {
          parsed = parseReference(value);
        } catch (error) {
          expect(error).toBeInstanceOf(RegistryError);
          expect((error as RegistryError).status).toBeLessThan(500);
          return;
        }
        if (parsed.kind === 'tag') expect(SPEC_TAG.test(value)).toBe(true);
        else {
          expect(SPEC_DIGEST.test(value)).toBe(true);
          expect(value).toMatch(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('routes any path to a valid name or a 4xx registry error, never anything else', () => {
    const path = fc
      .array(
        fc.oneof(
          grammarish,
          fc.constantFrom('manifests', 'blobs', 'uploads', 'tags', 'list', 'referrers', '_catalog'),
        ),
        { maxLength: 8 },
      )
      .map((segments) => `/v2/${segments.join('/')}`);
    fc.assert(
      fc.property(path, (value) => {
        try {
          const route = matchRoute(value);
          if (route.repository !== undefined) expect(SPEC_NAME.test(route.repository)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(RegistryError);
          expect((error as RegistryError).status).toBeLessThan(500);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
