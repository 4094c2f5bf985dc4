/**
 * @module metadata/access-writes
 * Counts this process's writes to the tables the access decision reads.
 *
 * The `access_generation` counter (migration 0008) tells every replica that those tables changed,
 * but a reader checks it at most once per event-loop turn. A write made by this very process can
 * land inside such a turn (SQLite runs synchronously), so readers also compare this count: when
 * it moved, they check the generation again. A Kysely plugin sees every statement of every store
 * over the database, so no write path can forget to count.
 */
import {
  AliasNode,
  DeleteQueryNode,
  InsertQueryNode,
  RawNode,
  TableNode,
  UpdateQueryNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/** The control-plane tables the access decision reads; migration 0008 puts triggers on them. */
export const ACCESS_TABLES: readonly string[] = [
  'principals',
  'principal_secrets',
  'resources',
  'role_assignments',
  'registry_credentials',
];

export class AccessWriteCounter implements KyselyPlugin {
  private writes = 0;
  private readonly pending = new WeakSet<object>();

  /** Moves when a statement that may have changed an access table has run. */
  get count(): number {
    return this.writes;
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (mayWriteAccessTable(args.node)) {
      // Counted before (a reader that checks now waits for the connection the write holds) and
      // after it ran (a reader that checked in between sees the row as written).
      this.writes += 1;
      this.pending.add(args.queryId);
    }
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.pending.delete(args.queryId)) this.writes += 1;
    return args.result;
  }
}

function mayWriteAccessTable(node: RootOperationNode): boolean {
  // Raw SQL could write anything: count it (it is rare on the request path).
  if (RawNode.is(node)) return true;
  if (InsertQueryNode.is(node)) return isAccessTable(node.into);
  if (UpdateQueryNode.is(node)) return isAccessTable(node.table) || node.table === undefined;
  if (DeleteQueryNode.is(node)) return node.from.froms.some(isAccessTable);
  return false;
}

function isAccessTable(node: OperationNode | undefined): boolean {
  if (node === undefined) return false;
  if (AliasNode.is(node)) return isAccessTable(node.node);
  // Anything but a plain table (a list of tables, say) counts, to be safe.
  if (!TableNode.is(node)) return true;
  return ACCESS_TABLES.includes(node.table.identifier.name);
}
