/**
 * @module registry/errors
 * The data plane's one error serialiser: every failure leaves as the OCI error body
 * `{"errors":[{"code","message","detail"}]}` with the code's status. Errors that are not
 * RegistryErrors are the server's fault: logged in full, answered as UNKNOWN without internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isRegistryError, RegistryError, type OciErrorCode } from '../core/errors.js';

/** Fastify's own client errors (bad URL, body too large, ...) mapped onto OCI codes. */
function fromFastifyError(error: FastifyError): RegistryError {
  const status = error.statusCode ?? 500;
  const codeByStatus: Record<number, OciErrorCode> = {
    400: 'NAME_INVALID',
    404: 'NAME_UNKNOWN',
    405: 'UNSUPPORTED',
    413: 'SIZE_INVALID',
    415: 'MANIFEST_INVALID',
    429: 'TOOMANYREQUESTS',
  };
  const code = codeByStatus[status] ?? 'UNKNOWN';
  return new RegistryError(code, status < 500 ? error.message : undefined, {
    status,
    cause: error,
  });
}

export function toRegistryError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  const fastifyError = error as FastifyError;
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode < 500) {
    return fromFastifyError(fastifyError);
  }
  return new RegistryError('UNKNOWN', undefined, { cause: error });
}

export function sendRegistryError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const registryError = toRegistryError(error);
  if (registryError.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.debug({ code: registryError.code, msg: registryError.message }, 'request refused');
  }
  // A client that went away has no one to answer. (Not `request.raw.destroyed`: a request whose
  // body was read to the end is destroyed too, and its client still waits for the answer.)
  if (request.raw.socket?.destroyed || reply.raw.headersSent) return reply;
  for (const [name, value] of Object.entries(registryError.headers)) reply.header(name, value);
  const body = {
    errors: [
      {
        code: registryError.code,
        message: registryError.message,
        ...(registryError.detail !== undefined ? { detail: registryError.detail } : {}),
      },
    ],
  };
  return reply
    .code(registryError.status)
    .header('Docker-Distribution-API-Version', 'registry/2.0')
    .header('Content-Type', 'application/json; charset=utf-8')
    .send(JSON.stringify(body));
}
