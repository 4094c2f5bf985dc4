import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientAddressResolver } from './client-address.js';
import { IpRuleSet, parseAddress } from './ip-rules.js';
import { CompiledNetworkRules } from './network-rules.js';

describe('IpRuleSet', () => {
  it.each([
    ['10.1.0.0/16', '10.1.200.3', true],
    ['10.1.0.0/16', '10.2.0.1', false],
    ['203.0.113.7', '203.0.113.7', true],
    ['203.0.113.7', '203.0.113.8', false],
    ['2001:db8::/32', '2001:db8:1::5', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['10.1.2.3/16', '10.1.99.99', true], // host bits ignored
    ['0.0.0.0/0', '198.51.100.1', true],
    ['127.0.0.9', '::ffff:127.0.0.9', true], // IPv4-mapped folded
    ['::ffff:127.0.0.0/104', '127.5.5.5', true],
    ['127.0.0.1', '::1', false],
  ])('%s vs %s -> %s', (rule, address, expected) => {
    const set = new IpRuleSet([rule]);
    expect(Boolean(set.match(parseAddress(address)!))).toBe(expected);
  });

  it('refuses invalid rules', () => {
    expect(() => new IpRuleSet(['10.0.0.0/33'])).toThrow(RangeError);
    expect(() => new IpRuleSet(['not-an-ip'])).toThrow(RangeError);
  });

  // A plain reference matcher: compare every rule bit by bit.
  function reference(rules: { network: number; prefix: number }[], address: number): boolean {
    return rules.some(
      ({ network, prefix }) =>
        prefix === 0 || network >>> (32 - prefix) === address >>> (32 - prefix),
    );
  }
  const v4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

  it('agrees with a plain reference matcher (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            network: fc.nat({ max: 0xffffffff }),
            prefix: fc.integer({ min: 0, max: 32 }),
          }),
          { maxLength: 50 },
        ),
        fc.array(fc.nat({ max: 0xffffffff }), { minLength: 1, maxLength: 20 }),
        (rules, addresses) => {
          const set = new IpRuleSet(rules.map((r) => `${v4(r.network)}/${r.prefix}`));
          for (const address of addresses) {
            // Also probe addresses inside the first rule's range.
            expect(Boolean(set.match(parseAddress(v4(address))!))).toBe(reference(rules, address));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches 10,000 rules by prefix length, not by rule count', () => {
    const rules = Array.from(
      { length: 10_000 },
      (_, i) => `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`,
    );
    const set = new IpRuleSet(rules);
    expect(set.match(parseAddress('10.39.15.77')!)?.value).toBe('10.39.15.0/24');
    expect(set.match(parseAddress('192.168.0.1')!)).toBeUndefined();
  });
});

describe('CompiledNetworkRules', () => {
  it('follows public access, default action and rules', () => {
    expect(
      new CompiledNetworkRules({
        publicNetworkAccess: 'Enabled',
        networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
      }).evaluate('1.2.3.4').pass,
    ).toBe(true);
    const deny = new CompiledNetworkRules({
      publicNetworkAccess: 'Enabled',
      networkRuleSet: { defaultAction: 'Deny', ipRules: [{ value: '1.2.3.0/24' }] },
    });
    expect(deny.evaluate('1.2.3.4')).toEqual({ pass: true, reason: 'network: ip rule 1.2.3.0/24' });
    const refused = deny.evaluate('5.6.7.8');
    expect(refused.pass).toBe(false);
    expect(!refused.pass && refused.message).toBe(
      "client with IP '5.6.7.8' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
    );
    const disabled = new CompiledNetworkRules({
      publicNetworkAccess: 'Disabled',
      networkRuleSet: { defaultAction: 'Allow', ipRules: [] },
    }).evaluate('1.2.3.4');
    expect(disabled.pass).toBe(false);
    expect(!disabled.pass && disabled.reason).toBe('network: public network access disabled');
  });
});

describe('ClientAddressResolver', () => {
  it('ignores forwarding headers from untrusted peers', () => {
    const resolver = new ClientAddressResolver(['10.0.0.0/8']);
    expect(resolver.resolve('203.0.113.9', { 'x-forwarded-for': '127.0.0.1' }).address).toBe(
      '203.0.113.9',
    );
    expect(resolver.resolve('::ffff:203.0.113.9', {}).address).toBe('203.0.113.9');
  });

  it('takes the right-most untrusted hop from a trusted proxy', () => {
    const resolver = new ClientAddressResolver(['10.0.0.0/8']);
    expect(
      resolver.resolve('10.0.0.5', { 'x-forwarded-for': '1.1.1.1, 198.51.100.4, 10.0.0.7' })
        .address,
    ).toBe('198.51.100.4');
    expect(
      resolver.resolve('10.0.0.5', {
        forwarded: 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"',
      }).address,
    ).toBe('2001:db8::1');
    // Garbage in the chain fails closed: it is what gets judged, and it matches no rule.
    expect(resolver.resolve('10.0.0.5', { 'x-forwarded-for': 'evil' }).address).toBe('evil');
  });
});
