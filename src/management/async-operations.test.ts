/**
 * ARM long-running operations: a started operation is InProgress, then Succeeded with what the
 * work returned, or Failed with an ArmError's code and message (anything else is an
 * InternalServerError); names are ACR's `registries-<guid>`, found case-insensitively.
 */
import { describe, expect, it } from 'vitest';
import { ArmError } from './arm-errors.js';
import { AsyncOperations } from './async-operations.js';

const ID = '/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r';

async function settled(operations: AsyncOperations, name: string) {
  for (let i = 0; i < 100; i += 1) {
    const operation = operations.get(name)!;
    if (operation.status !== 'InProgress' && operation.endTime) return operation;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error('the operation did not settle');
}

describe('AsyncOperations', () => {
  it('runs work to Succeeded with its result and progress', async () => {
    const operations = new AsyncOperations();
    let release!: () => void;
    const started = operations.start('registries', ID, 'local', async (op) => {
      op.properties = { copied: 1 };
      await new Promise<void>((r) => (release = r));
      return { digest: 'sha256:x' };
    });
    expect(started.name).toMatch(/^registries-[0-9a-f-]{36}$/);
    expect(AsyncOperations.statusOf(started)).toMatchObject({ status: 'InProgress' });
    await new Promise((r) => setTimeout(r, 1));
    release();
    const done = await settled(operations, started.name.toUpperCase());
    expect(AsyncOperations.statusOf(done)).toMatchObject({
      id: `${ID}/operationStatuses/${started.name}`,
      status: 'Succeeded',
      percentComplete: 100,
      properties: { copied: 1, digest: 'sha256:x' },
    });
  });

  it("fails with an ArmError's words, and hides nothing else behind a generic code", async () => {
    const operations = new AsyncOperations();
    const armFailure = operations.start('registries', ID, 'local', () =>
      Promise.reject(new ArmError(400, 'InvalidParameters', 'Access to r denied.')),
    );
    const crash = operations.start('registries', ID, 'local', () =>
      Promise.reject(new Error('boom')),
    );
    expect((await settled(operations, armFailure.name)).error).toEqual({
      code: 'InvalidParameters',
      message: 'Access to r denied.',
    });
    expect((await settled(operations, crash.name)).error).toEqual({
      code: 'InternalServerError',
      message: 'The operation failed with an internal server error.',
    });
    expect(operations.get('registries-unknown')).toBeUndefined();
  });
});
