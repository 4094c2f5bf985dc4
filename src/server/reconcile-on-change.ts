/**
 * @module server/reconcile-on-change
 * Runs a reconcile whenever a shared version moves, so every replica follows changes made
 * through any other one.
 *
 * A replica learns of a change made through another replica only from the shared database. The
 * version is one cheap read (the access generation for private endpoints, see
 * server/private-endpoints); the reconcile, which may read much more, runs only when it moved.
 * Checks are serialized; a failed reconcile (or version read) is logged and tried again at the
 * next check, and never escapes: a database that is away for a while must not stop the process.
 */
import type { Logger } from 'pino';

export interface ReconcileOnChangeOptions {
  /** What this watch keeps in line, for the log. */
  name: string;
  /** The shared version: every change the reconcile must follow moves it. */
  version: () => Promise<string>;
  /** Brings local state in line with the shared one; false when it failed and must be retried. */
  reconcile: () => Promise<boolean>;
  /** Time between checks. */
  intervalMs: number;
  logger: Logger;
}

export interface ReconcileWatch {
  /** One check now (after any running one): reconciles if the version moved since the last. */
  check(): Promise<void>;
  /** Stops the checks, waiting for a running one. */
  stop(): Promise<void>;
}

/**
 * Reconciles once (before returning, so the caller starts in line), then checks the version
 * every `intervalMs` on an unref'd timer: a watch never keeps the process alive.
 */
export async function reconcileOnChange(
  options: ReconcileOnChangeOptions,
): Promise<ReconcileWatch> {
  const { name, version, reconcile, intervalMs, logger } = options;
  let reconciledAt: string | undefined;
  let versionFailing = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let checks: Promise<void> = Promise.resolve();

  const checkNow = async () => {
    let current: string;
    try {
      current = await version();
      if (versionFailing) logger.info({ watch: name }, 'change watch reads its version again');
      versionFailing = false;
    } catch (error) {
      // Once per outage: every few seconds for as long as the database is away would drown the log.
      if (!versionFailing) logger.error({ err: error, watch: name }, 'change watch cannot read');
      versionFailing = true;
      return;
    }
    if (current === reconciledAt) return;
    // The version is read before the reconcile's own reads: a change that lands meanwhile moves
    // it again, so the next check reconciles once more instead of missing the change.
    const reconciled = await reconcile().catch((error: unknown) => {
      logger.error({ err: error, watch: name }, 'change watch could not reconcile');
      return false;
    });
    if (reconciled) reconciledAt = current;
  };

  const check = () => {
    // A request still in flight at shutdown must not start a reconcile after the stop.
    if (!stopped) checks = checks.then(checkNow);
    return checks;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void check().then(schedule), intervalMs);
    timer.unref();
  };

  await check();
  schedule();
  return {
    check,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await checks;
    },
  };
}
