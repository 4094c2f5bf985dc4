/**
 * @module test/interop/netns
 * Real clients at distinct source addresses, for interop tests of the network stage. A client
 * cannot choose its source address, but a network namespace can: each namespace gets one end of
 * a veth pair, the host keeps the other, and a process run with `ip netns exec NS ...` connects
 * from the namespace's address. The registry listens on a host-side veth address, so the
 * namespace's packets reach it over that link and the socket peer is the namespace's address.
 *
 * Everything is named per run (`bw<4 hex>`) and the subnets (`10.99.<n>.0/24`,
 * `fd00:99:<n>::/64`) are chosen among those no interface uses yet, so parallel runs do not
 * clash. `cleanup()` removes every namespace, veth and `/etc/netns/<ns>` directory it made, and
 * is safe to call after a partial setup.
 *
 * Needs Linux, root and iproute2. Off CI a missing capability skips the suite loudly; with
 * CI=true it fails, like a missing interop client (test/support/server.ts `requireClient`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { describeRun, run, type RunOptions, type RunResult } from '../support/clients.js';

async function ip(args: string[]): Promise<RunResult> {
  const result = await run('ip', args, { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`ip failed\n${describeRun(result)}`);
  return result;
}

/**
 * Whether this process can build namespaces: Linux, root, `ip` installed, and the kernel lets it
 * create (and delete) a namespace here; a container without CAP_NET_ADMIN cannot.
 */
export async function namespacesUsable(): Promise<{ ok: boolean; why: string }> {
  if (process.platform !== 'linux') return { ok: false, why: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'network namespaces need root' };
  const version = await run('ip', ['-V'], { timeoutMs: 30_000 });
  if (version.code !== 0) {
    return { ok: false, why: "'ip' is not installed: run .ci/run or apt-get install iproute2" };
  }
  const probe = `bwprobe${randomBytes(3).toString('hex')}`;
  const added = await run('ip', ['netns', 'add', probe], { timeoutMs: 30_000 });
  if (added.code !== 0) {
    return { ok: false, why: `cannot create a network namespace:\n${describeRun(added)}` };
  }
  await run('ip', ['netns', 'delete', probe], { timeoutMs: 30_000 });
  return { ok: true, why: '' };
}

/** Like `requireClient`: off CI a skip with a loud reason; with CI=true an error. */
export function requireNamespaces(state: { ok: boolean; why: string }): boolean {
  if (state.ok) return true;
  const message = `network namespace interop tests need root and iproute2: ${state.why}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n*** SKIPPING: ${message} ***\n`);
  return false;
}

/** One namespace and its link to the host. */
export interface Namespace {
  /** `ip netns` name, e.g. `bw1a2b-a`. */
  name: string;
  /** Host end of the veth pair. */
  hostInterface: string;
  /** IPv4 address of the host end (the namespace's gateway), e.g. `10.99.17.1`. */
  hostAddress: string;
  /** IPv4 address inside the namespace: the source its clients connect from. */
  address: string;
  /** IPv6 addresses of the host end and inside, when the namespace has them. */
  hostAddress6?: string;
  address6?: string;
}

export interface NamespaceSpec {
  /** Suffix of the names (`a`, `b`). */
  label: string;
  /** With an IPv6 /64 too (`fd00:99:<n>::1` host side, `::2` inside, without DAD). */
  ipv6?: boolean;
}

/** The subnets and names of one run, chosen before anything is created. */
export class NetworkLab {
  readonly namespaces: Namespace[] = [];
  private readonly hostsDirs: string[] = [];
  private readonly hostInterfaces: string[] = [];

  private constructor(readonly id: string) {}

  /**
   * Creates one namespace per spec, each on its own /24 (consecutive `10.99.<n>`), with a route
   * from every namespace to every other subnet through the host (the host's own addresses, so
   * no forwarding is involved: a namespace reaches any host-side address over its own link).
   */
  static async create(specs: NamespaceSpec[]): Promise<NetworkLab> {
    const lab = new NetworkLab(`bw${randomBytes(2).toString('hex')}`);
    try {
      const base = await freeSubnetBase(specs.length);
      for (const [index, spec] of specs.entries()) {
        await lab.addNamespace(spec, base + index);
      }
      // Every namespace can reach every host-side address (a registry listens on one of them).
      for (const ns of lab.namespaces) {
        for (const other of lab.namespaces) {
          if (other === ns) continue;
          const subnet = other.hostAddress.replace(/\.1$/, '.0/24');
          await ip(['-n', ns.name, 'route', 'add', subnet, 'via', ns.hostAddress]);
        }
      }
      return lab;
    } catch (error) {
      await lab.cleanup();
      throw error;
    }
  }

  private async addNamespace(spec: NamespaceSpec, octet: number): Promise<void> {
    const name = `${this.id}-${spec.label}`;
    // Interface names are at most 15 characters.
    const hostInterface = `${this.id}${spec.label}h`;
    const inner = `${this.id}${spec.label}n`;
    const ns: Namespace = {
      name,
      hostInterface,
      hostAddress: `10.99.${octet}.1`,
      address: `10.99.${octet}.2`,
      ...(spec.ipv6
        ? {
            hostAddress6: `fd00:99:${octet.toString(16)}::1`,
            address6: `fd00:99:${octet.toString(16)}::2`,
          }
        : {}),
    };
    await ip(['netns', 'add', name]);
    this.namespaces.push(ns);
    await ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', inner]);
    this.hostInterfaces.push(hostInterface);
    await ip(['link', 'set', inner, 'netns', name]);
    await ip(['addr', 'add', `${ns.hostAddress}/24`, 'dev', hostInterface]);
    await ip(['-n', name, 'addr', 'add', `${ns.address}/24`, 'dev', inner]);
    if (ns.hostAddress6 && ns.address6) {
      // nodad: usable at once, no duplicate address detection delay.
      await ip(['-6', 'addr', 'add', `${ns.hostAddress6}/64`, 'dev', hostInterface, 'nodad']);
      await ip(['-n', name, '-6', 'addr', 'add', `${ns.address6}/64`, 'dev', inner, 'nodad']);
    }
    await ip(['link', 'set', hostInterface, 'up']);
    await ip(['-n', name, 'link', 'set', inner, 'up']);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /**
   * Names only this namespace resolves (`/etc/netns/<ns>/hosts`, which `ip netns exec`
   * bind-mounts over `/etc/hosts` for the command it runs; the machine's own /etc/hosts is not
   * touched). For clients that cannot take an IPv6 literal in an image reference.
   */
  async setHosts(ns: Namespace, entries: Record<string, string>): Promise<void> {
    const dir = `/etc/netns/${ns.name}`;
    await mkdir(dir, { recursive: true });
    this.hostsDirs.push(dir);
    const lines = ['127.0.0.1 localhost', '::1 localhost'];
    for (const [host, address] of Object.entries(entries)) lines.push(`${address} ${host}`);
    await writeFile(`${dir}/hosts`, `${lines.join('\n')}\n`);
  }

  /** Runs `file args` inside `ns` (the process's source address is the namespace's). */
  exec(ns: Namespace, file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', ns.name, file, ...args], options);
  }

  /** Removes everything this lab made; returns what could not be removed. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    for (const ns of [...this.namespaces].reverse()) {
      const deleted = await run('ip', ['netns', 'delete', ns.name], { timeoutMs: 30_000 });
      if (deleted.code !== 0) problems.push(describeRun(deleted));
    }
    // Deleting a namespace destroys its veth end and so the pair; remove any left over.
    for (const link of this.hostInterfaces) {
      const shown = await run('ip', ['link', 'show', link], { timeoutMs: 30_000 });
      if (shown.code === 0) {
        const deleted = await run('ip', ['link', 'delete', link], { timeoutMs: 30_000 });
        if (deleted.code !== 0) problems.push(describeRun(deleted));
      }
    }
    for (const dir of this.hostsDirs) await rm(dir, { recursive: true, force: true });
    for (const ns of this.namespaces) {
      if (existsSync(`/run/netns/${ns.name}`)) problems.push(`namespace ${ns.name} still exists`);
    }
    return problems;
  }
}

/** A `10.99.<n>` base with `count` consecutive /24s (and `fd00:99:<n hex>::/64`s) unused here. */
async function freeSubnetBase(count: number): Promise<number> {
  const addresses = (await ip(['-o', 'addr', 'show'])).stdout;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 10 + (randomBytes(1).readUInt8() % 200);
    const taken = Array.from({ length: count }, (_, i) => base + i).some(
      (octet) =>
        addresses.includes(`10.99.${octet}.`) ||
        addresses.includes(`fd00:99:${octet.toString(16)}::`),
    );
    if (!taken) return base;
  }
  throw new Error('no free 10.99.<n>.0/24 subnet found');
}
