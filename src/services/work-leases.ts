/**
 * @module services/work-leases
 * This process's leases on the long-running work it does after answering (task runs, ML jobs,
 * container groups), over the lease store every replica shares. The leases are renewed while
 * the process lives; every replica sweeps for leases whose holder is gone and ends that work,
 * as the service that owns its resource type says. One holder name and one renewal per process,
 * whichever services lease work.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ControlPlaneStore, WorkLease, WorkLeaseStore } from '../metadata/index.js';

/**
 * How long a claim on work lasts unless renewed (every third of it). A killed replica's work is
 * ended by another replica's sweep (every half of it) at most a lease and a sweep period after
 * its last renewal: 45 s, well within a minute, while a renewal may miss twice (a slow database)
 * before anyone takes the work for dead.
 */
export const WORK_LEASE_MS = 30_000;

/** The name of this process among the replicas when none is configured: host and process id. */
export function defaultInstanceName(): string {
  return `${hostname()}:${process.pid}`;
}

export interface WorkLeasesOptions {
  store: WorkLeaseStore;
  controlPlane: ControlPlaneStore;
  /**
   * This process's name among the replicas, the same after a restart where the deployment
   * allows (a pod name): work a previous incarnation left is then ended at once, not after its
   * lease expires.
   */
  instanceName: string;
  leaseMs?: number;
  logger: Logger;
}

/** A lease this process holds on one piece of work. */
export interface WorkClaim {
  /** Gives the lease up (once the work ended); a later claim on the same resource is kept. */
  release(): Promise<void>;
}

export class WorkLeases {
  /** This incarnation of this instance: what its leases name as their holder. */
  readonly owner: string;
  readonly leaseMs: number;
  /** Work leased here: resource id (lower case) -> what to do if another replica took it. */
  private readonly local = new Map<string, { lost: () => void }>();
  /** How abandoned work ends, by resource type (lower case). */
  private readonly enders = new Map<string, (resourceId: string) => Promise<void>>();
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: WorkLeasesOptions) {
    this.owner = `${options.instanceName}/${randomUUID()}`;
    this.leaseMs = options.leaseMs ?? WORK_LEASE_MS;
  }

  /** How work of `type` ends when its replica is gone (a status and a message users see). */
  onAbandoned(type: string, end: (resourceId: string) => Promise<void>): void {
    this.enders.set(type.toLowerCase(), end);
  }

  /**
   * Takes the lease on `resourceId` for this process, unless a live holder has it (with
   * `replace`, whoever has it: this work replaces theirs). `lost` runs if another replica takes
   * it over (this process stalled past its lease, and the work was ended or replaced): the
   * work should stop here.
   */
  async claim(
    resourceId: string,
    lost: () => void,
    replace = false,
  ): Promise<WorkClaim | undefined> {
    const now = new Date();
    const until = new Date(now.getTime() + this.leaseMs);
    if (!(await this.options.store.claim(resourceId, this.owner, until, now, replace)))
      return undefined;
    const id = resourceId.toLowerCase();
    const entry = { lost };
    this.local.set(id, entry);
    return {
      release: async () => {
        if (this.local.get(id) !== entry) return;
        this.local.delete(id);
        await this.options.store.release(id, this.owner);
      },
    };
  }

  /** The lease on `resourceId`, whoever holds it. */
  find(resourceId: string): Promise<WorkLease | undefined> {
    return this.options.store.find(resourceId);
  }

  /** Whether this process holds the lease on `resourceId`. */
  holds(resourceId: string): boolean {
    return this.local.has(resourceId.toLowerCase());
  }

  /** Renews this process's leases now and every third of a lease; sweeps every half. */
  async start(): Promise<void> {
    await this.sweep();
    const every = (ms: number, work: () => Promise<void>, what: string) => {
      const timer = setInterval(() => {
        work().catch((error: unknown) => this.options.logger.warn({ err: error }, what));
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.leaseMs / 3, () => this.renew(), 'renewing work leases failed');
    every(this.leaseMs / 2, () => this.sweep(), 'sweeping abandoned work failed');
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** Extends this process's leases; work whose lease another replica took is told it lost it. */
  async renew(): Promise<void> {
    const held = await this.options.store.renew(this.owner, new Date(Date.now() + this.leaseMs));
    for (const [id, entry] of [...this.local]) {
      if (held.has(id) || this.local.get(id) !== entry) continue;
      this.local.delete(id);
      entry.lost();
    }
  }

  /** Ends the work of every lease whose holder is gone. */
  async sweep(): Promise<void> {
    const now = new Date();
    for (const lease of await this.options.store.list()) {
      if (this.holds(lease.resourceId) || !this.holderGone(lease, now)) continue;
      const resource = await this.options.controlPlane.getResource(lease.resourceId);
      const end = resource ? this.enders.get(resource.type.toLowerCase()) : undefined;
      // A kind of work this process does not know (a newer version's) is left to that version.
      if (resource && !end) continue;
      await this.takeOver(lease.resourceId, lease, now, end);
    }
  }

  /** Whether the process that holds `lease` is gone: expired, or this one's earlier self. */
  holderGone(lease: WorkLease, now: Date): boolean {
    if (lease.owner === this.owner) return false;
    const instance = lease.owner.slice(0, lease.owner.lastIndexOf('/'));
    return lease.expiresAt < now.toISOString() || instance === this.options.instanceName;
  }

  /**
   * Ends abandoned work (or, without `end`, just drops the lease of work that is gone). The
   * lease is taken first, so a holder that is alive after all and renewed in time keeps its
   * work, and one that renews too late learns it lost it.
   */
  async takeOver(
    resourceId: string,
    lease: WorkLease | undefined,
    now: Date,
    end?: (resourceId: string) => Promise<void>,
  ): Promise<void> {
    // An earlier incarnation of this instance renews nothing any more: its lease goes at once.
    if (lease && lease.expiresAt >= now.toISOString())
      await this.options.store.release(resourceId, lease.owner);
    const until = new Date(now.getTime() + this.leaseMs);
    if (!(await this.options.store.claim(resourceId, this.owner, until, now))) return;
    try {
      await end?.(resourceId);
    } finally {
      await this.options.store.release(resourceId, this.owner);
    }
  }
}
