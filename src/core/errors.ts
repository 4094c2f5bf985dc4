/**
 * @module core/errors
 * The one registry of error codes for the data plane (OCI Distribution Spec error codes, plus the
 * few extra codes Distribution and ACR clients know). Handlers throw `RegistryError`; exactly one
 * serialiser (registry/errors.ts) turns it into the OCI body `{"errors":[{code,message,detail}]}`.
 */

export interface ErrorDescriptor {
  /** HTTP status the code is served with unless a throw site overrides it (e.g. 416). */
  status: number;
  /** The spec's message for the code, used when the throw site gives none. */
  message: string;
}

/** Codes from the OCI Distribution Spec v1.1 ("Error Codes" table), with Distribution's statuses. */
export const OCI_ERRORS = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: {
    status: 400,
    message: 'manifest references a manifest or blob unknown to registry',
  },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Not in the spec's table, but served by Distribution and understood by clients.
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  REGISTRY_UNKNOWN: { status: 404, message: 'no registry is served at this host' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  // Distribution's code for failures that are the server's fault.
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, ErrorDescriptor>;

export type OciErrorCode = keyof typeof OCI_ERRORS;

export interface RegistryErrorOptions {
  /** Overrides the code's default status (e.g. 416 for an out-of-order chunk). */
  status?: number;
  /** Machine-readable detail, serialised as the error's `detail` field. */
  detail?: unknown;
  /** Extra response headers (e.g. `Range` on a 416, `Retry-After` on a 429). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** A coded data-plane failure. The only error type handlers throw on purpose. */
export class RegistryError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    const status = options.status ?? OCI_ERRORS[code].status;
    // A refusal (a 404 for every blob a client probes, a 401 challenge) is an answer, not a
    // fault: capturing its stack trace was measurable on the push path, and nobody reads it.
    const stackTraceLimit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    super(message ?? OCI_ERRORS[code].message, { cause: options.cause });
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'RegistryError';
    this.code = code;
    this.status = status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

export function isRegistryError(error: unknown): error is RegistryError {
  return error instanceof RegistryError;
}
