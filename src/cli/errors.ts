/**
 * @module cli/errors
 * The one error the az-shaped commands raise: its message is printed as a single
 * `ERROR: <message>` line on stderr and the process exits 1 (never a stack trace).
 */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** A readable sentence for a failed connection (node's system errors carry a code). */
export function networkErrorMessage(error: unknown, target: string): string {
  const code = (error as { code?: string } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return `Could not connect to ${target}: the connection was refused. Is 'breakwater serve' running there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Could not connect to ${target}: the host name does not resolve.`;
    case 'ETIMEDOUT':
    case 'ECONNRESET':
      return `Could not connect to ${target}: the connection timed out or was reset.`;
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `Could not connect to ${target}: its TLS certificate is not trusted (${code}). Pass the platform's CA with --ca-file at login.`;
    default:
      return `Could not connect to ${target}: ${(error as Error)?.message ?? String(error)}`;
  }
}
