/**
 * @module access/control-plane-reads
 * The control-plane reads of the access decision, kept while nothing they depend on changed.
 *
 * Every data-plane request re-checks its principal, secret and role assignments: four to five
 * queries that return the same rows request after request. The metadata database keeps one
 * counter (`accessGeneration`) that triggers move forward on every change to those tables, by
 * any code path on any replica. Reads are remembered per counter value, and the counter is read
 * again at most once per event-loop turn. So a request sees every change committed before the
 * check of its turn began: a change made through another replica is seen by the first request
 * of any later turn, and at worst a request that arrives in the very turn a check began (less
 * than a turn after the change, typically well under a millisecond) is judged on the state
 * just before it.
 *
 * Writes by this process are seen at once, even within a turn: the store counts them
 * (metadata/access-writes) and a moved count means a new check.
 */
import type {
  ControlPlaneStore,
  PrincipalRecord,
  RegistryCredentialRecord,
  ResourceRecord,
  RoleAssignmentRecord,
  SecretRecord,
} from '../metadata/index.js';

/** Rows remembered per generation at most; beyond it the memo starts again. */
const MAX_REMEMBERED = 5_000;

type ReadMethods = Pick<
  ControlPlaneStore,
  | 'getPrincipal'
  | 'getSecret'
  | 'getResource'
  | 'listRoleAssignmentsApplyingTo'
  | 'listRegistryCredentials'
>;

export class ControlPlaneReads implements ReadMethods {
  private generation: string | undefined;
  private memo = new Map<string, Promise<unknown>>();
  /** This turn's check of the counter; cleared when the turn ends. */
  private check: Promise<Map<string, Promise<unknown>>> | undefined;
  /** This process's write count when `check` started: a write since calls for a new check. */
  private checkedAtWrites = -1;

  constructor(private readonly store: ControlPlaneStore) {}

  getPrincipal(objectId: string): Promise<PrincipalRecord | undefined> {
    return this.remember(`principal ${objectId}`, () => this.store.getPrincipal(objectId));
  }

  getSecret(id: string): Promise<SecretRecord | undefined> {
    return this.remember(`secret ${id}`, () => this.store.getSecret(id));
  }

  getResource(id: string): Promise<ResourceRecord | undefined> {
    return this.remember(`resource ${id}`, () => this.store.getResource(id));
  }

  listRoleAssignmentsApplyingTo(
    scope: string,
    principalId?: string,
  ): Promise<RoleAssignmentRecord[]> {
    return this.remember(`assignments ${scope} ${principalId ?? ''}`, () =>
      this.store.listRoleAssignmentsApplyingTo(scope, principalId),
    );
  }

  listRegistryCredentials(registryId: string): Promise<RegistryCredentialRecord[]> {
    return this.remember(`credentials ${registryId}`, () =>
      this.store.listRegistryCredentials(registryId),
    );
  }

  private async remember<T>(key: string, read: () => Promise<T>): Promise<T> {
    const memo = await this.current();
    const known = memo.get(key);
    if (known) return known as Promise<T>;
    if (memo.size >= MAX_REMEMBERED) memo.clear();
    const reading = read();
    memo.set(key, reading);
    // A failed read is not remembered: the next request tries again.
    reading.catch(() => memo.delete(key));
    return reading;
  }

  /**
   * The memo of the current generation, checking the counter once per event-loop turn, and
   * again whenever this process wrote to the tables behind it.
   */
  private current(): Promise<Map<string, Promise<unknown>>> {
    const writes = this.store.localAccessWrites();
    if (!this.check || writes !== this.checkedAtWrites) {
      this.checkedAtWrites = writes;
      this.check = this.store.accessGeneration().then((generation) => {
        if (generation !== this.generation) {
          this.generation = generation;
          this.memo = new Map();
        }
        return this.memo;
      });
      // Reset even if the read fails, so the next turn checks again.
      const check = this.check;
      setImmediate(() => {
        if (this.check === check) this.check = undefined;
      });
    }
    return this.check;
  }
}
