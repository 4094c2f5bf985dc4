/**
 * @module management/async-operations
 * ARM long-running operations: a POST answers 202 at once with `Azure-AsyncOperation` (a status
 * resource: InProgress, Succeeded or Failed with its error) and `Location` (202 while running,
 * then the result or the error), as ACR's import does. The work runs in this process; its
 * status is kept in memory for an hour after it ends, as a client polls within seconds. A
 * restart forgets operations, which is honest: the work itself does not survive a restart.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { ArmError } from './arm-errors.js';

export type OperationState = 'InProgress' | 'Succeeded' | 'Failed';

export interface AsyncOperation {
  /** e.g. `registries-<guid>` (ACR's operation names). */
  name: string;
  /** The resource the operation acts on (its status URL hangs off it). */
  resourceId: string;
  location: string;
  status: OperationState;
  startTime: string;
  endTime?: string;
  percentComplete: number;
  /** What the operation reports while it runs (import: manifests, blobs, bytes). */
  properties: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** How long a finished operation can still be polled. */
const RETENTION_MS = 60 * 60 * 1000;

export class AsyncOperations {
  private readonly operations = new Map<string, AsyncOperation>();

  /**
   * Starts `work` and returns its operation. `work` may report progress; an ArmError it throws
   * becomes the operation's error (code and message), anything else an InternalServerError.
   */
  start(
    prefix: string,
    resourceId: string,
    location: string,
    work: (operation: AsyncOperation) => Promise<Record<string, unknown> | void>,
  ): AsyncOperation {
    this.prune();
    const operation: AsyncOperation = {
      name: `${prefix}-${randomUUID()}`,
      resourceId,
      location,
      status: 'InProgress',
      startTime: new Date().toISOString(),
      percentComplete: 0,
      properties: {},
    };
    this.operations.set(operation.name.toLowerCase(), operation);
    void Promise.resolve()
      .then(() => work(operation))
      .then(
        (result) => {
          if (result) operation.properties = { ...operation.properties, ...result };
          operation.status = 'Succeeded';
          operation.percentComplete = 100;
        },
        (error: unknown) => {
          operation.status = 'Failed';
          operation.error =
            error instanceof ArmError
              ? { code: error.code, message: error.message }
              : {
                  // As for any ARM error: nothing of the server's internals is shown.
                  code: 'InternalServerError',
                  message: 'The operation failed with an internal server error.',
                };
        },
      )
      .finally(() => {
        operation.endTime = new Date().toISOString();
      });
    return operation;
  }

  get(name: string): AsyncOperation | undefined {
    return this.operations.get(name.toLowerCase());
  }

  /** The 202 answer: both polling headers, as ACR sends them. */
  accepted(
    reply: FastifyReply,
    operation: AsyncOperation,
    managementUrl: string,
    apiVersion: string,
  ): '' {
    const subscription = operation.resourceId.split('/')[2];
    const query = `?api-version=${encodeURIComponent(apiVersion)}`;
    reply
      .code(202)
      .header(
        'azure-asyncoperation',
        `${managementUrl}${operation.resourceId}/operationStatuses/${operation.name}${query}`,
      )
      .header(
        'location',
        `${managementUrl}/subscriptions/${subscription}/providers/Microsoft.ContainerRegistry/locations/${operation.location}/operationResults/${operation.name}${query}`,
      )
      .header('retry-after', '1');
    return '';
  }

  /** The `Azure-AsyncOperation` status resource. */
  static statusOf(operation: AsyncOperation): Record<string, unknown> {
    return {
      id: `${operation.resourceId}/operationStatuses/${operation.name}`,
      name: operation.name,
      status: operation.status,
      startTime: operation.startTime,
      ...(operation.endTime ? { endTime: operation.endTime } : {}),
      percentComplete: operation.percentComplete,
      properties: operation.properties,
      ...(operation.error ? { error: operation.error } : {}),
    };
  }

  /** The `Location` answer: 202 while running, 200 when done, the error when it failed. */
  static resultOf(operation: AsyncOperation, reply: FastifyReply): unknown {
    if (operation.status === 'InProgress') {
      reply.code(202).header('retry-after', '1');
      return '';
    }
    if (operation.status === 'Failed') {
      throw new ArmError(
        400,
        operation.error?.code ?? 'InternalServerError',
        operation.error?.message ?? 'The operation failed.',
      );
    }
    reply.code(200);
    return operation.properties;
  }

  private prune(): void {
    const now = Date.now();
    for (const [key, operation] of this.operations) {
      if (operation.endTime && now - Date.parse(operation.endTime) > RETENTION_MS) {
        this.operations.delete(key);
      }
    }
  }
}
