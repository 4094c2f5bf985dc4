/**
 * @module tls/constants
 * Algorithms and time spans shared by the CA and the server certificate.
 *
 * Kept apart from `x509.ts` so that reading and checking existing certificates (every start)
 * can use them without loading `@peculiar/x509` (see that module).
 */

/** ECDSA P-256 with SHA-256: accepted by OpenSSL 3, Go, Node, Chromium and Apple alike. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const DAY_MS = 24 * 60 * 60 * 1000;

/** notBefore is set this far in the past so a client whose clock lags a little still accepts. */
export const BACKDATE_MS = 60 * 60 * 1000;
