/**
 * @module management/arm-errors
 * The management plane's one error type and serialiser: ARM's `{"error":{"code","message"}}`.
 * Handlers throw ArmError; anything else is the server's fault and is answered as
 * InternalServerError without internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target?: string,
  ) {
    super(message);
    this.name = 'ArmError';
  }
}

export const armErrors = {
  notFound(type: string, name: string, resourceGroup: string): ArmError {
    return new ArmError(
      404,
      'ResourceNotFound',
      `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  },
  resourceGroupNotFound(name: string): ArmError {
    return new ArmError(
      404,
      'ResourceGroupNotFound',
      `Resource group '${name}' could not be found.`,
    );
  },
  subscriptionNotFound(id: string): ArmError {
    return new ArmError(
      404,
      'SubscriptionNotFound',
      `The subscription '${id}' could not be found.`,
    );
  },
  invalidRequest(message: string, code = 'InvalidRequestContent'): ArmError {
    return new ArmError(400, code, message);
  },
};

export function sendArmError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  let armError: ArmError;
  if (error instanceof ArmError) {
    armError = error;
  } else {
    const fastifyError = error as FastifyError;
    const status = fastifyError?.statusCode;
    if (typeof status === 'number' && status < 500) {
      armError = new ArmError(
        status,
        status === 404 ? 'NotFound' : 'InvalidRequestContent',
        fastifyError.message,
      );
    } else {
      request.log.error({ err: error }, 'management request failed');
      armError = new ArmError(
        500,
        'InternalServerError',
        'The server encountered an internal error. Please retry the request.',
      );
    }
  }
  if (reply.raw.headersSent) return reply;
  return reply.code(armError.status).send({
    error: {
      code: armError.code,
      message: armError.message,
      ...(armError.target ? { target: armError.target } : {}),
    },
  });
}
