import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcileOnChange, type ReconcileWatch } from './reconcile-on-change.js';

/** A version the test moves, a reconcile that counts its runs, and the log lines. */
function world() {
  const state = {
    version: 'v1',
    versionFails: false,
    reconcileResult: true as boolean | Error,
    reconciles: 0,
    log: [] as { msg: string }[],
  };
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        state.log.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    }),
  );
  const options = {
    name: 'test',
    logger,
    version: async () => {
      if (state.versionFails) throw new Error('database away');
      return state.version;
    },
    reconcile: async () => {
      state.reconciles += 1;
      if (state.reconcileResult instanceof Error) throw state.reconcileResult;
      return state.reconcileResult;
    },
  };
  return { state, options };
}

/** Checks run only when a test asks: the timer never fires during a test. */
const NEVER = 3_600_000;

describe('reconcileOnChange', () => {
  let watch: ReconcileWatch | undefined;
  afterEach(async () => {
    await watch?.stop();
    watch = undefined;
  });

  it('reconciles at start, again only when the version moved', async () => {
    const { state, options } = world();
    watch = await reconcileOnChange({ ...options, intervalMs: NEVER });
    expect(state.reconciles).toBe(1);
    await watch.check();
    await watch.check();
    expect(state.reconciles).toBe(1);
    state.version = 'v2';
    await watch.check();
    expect(state.reconciles).toBe(2);
    await watch.check();
    expect(state.reconciles).toBe(2);
  });

  it('tries a failed reconcile again at the next check, even if nothing moved', async () => {
    const { state, options } = world();
    state.reconcileResult = false;
    watch = await reconcileOnChange({ ...options, intervalMs: NEVER });
    state.reconcileResult = new Error('boom');
    await watch.check();
    expect(state.reconciles).toBe(2);
    expect(state.log.map((l) => l.msg)).toContain('change watch could not reconcile');
    state.reconcileResult = true;
    await watch.check();
    await watch.check();
    expect(state.reconciles).toBe(3);
  });

  it('survives a version it cannot read, logging once per outage', async () => {
    const { state, options } = world();
    watch = await reconcileOnChange({ ...options, intervalMs: NEVER });
    state.versionFails = true;
    state.version = 'v2';
    await watch.check();
    await watch.check();
    expect(state.reconciles).toBe(1);
    expect(state.log.filter((l) => l.msg === 'change watch cannot read')).toHaveLength(1);
    state.versionFails = false;
    await watch.check();
    expect(state.reconciles).toBe(2);
  });

  it('checks on its own timer until stopped, and not at all after', async () => {
    const { state, options } = world();
    watch = await reconcileOnChange({ ...options, intervalMs: 5 });
    state.version = 'v2';
    // Bounded wait for the timer's check; how long it takes is not what is tested.
    for (let i = 0; i < 400 && state.reconciles < 2; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(state.reconciles).toBe(2);
    await watch.stop();
    state.version = 'v3';
    await new Promise((resolve) => setTimeout(resolve, 50));
    await watch.check();
    expect(state.reconciles).toBe(2);
  });
});
