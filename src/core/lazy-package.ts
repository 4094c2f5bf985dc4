/**
 * @module core/lazy-package
 * CommonJS packages loaded on first use instead of at start-up.
 *
 * The scanner's version orders and CVSS calculator, its archive reader and the task files' YAML
 * parser are needed only when a scan, a database import or a task runs, yet imported at the top
 * they cost every server about ten megabytes of resident memory from the first second. Node's
 * `createRequire` loads a CommonJS package synchronously, so the callers stay synchronous.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** A getter that loads `name` the first time it is called. */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(name) as T);
}
