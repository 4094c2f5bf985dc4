/**
 * @module tls/x509
 * The one place that loads `@peculiar/x509`, so its set-up happens exactly once and first.
 *
 * Loaded lazily: only the functions that make a certificate (`createCa`, the server
 * certificate's `issue`) reach it, through `await import('./x509.js')`. The library and its
 * dependencies cost about 17 MiB of resident memory, which a server whose CA and certificate
 * already fit should not pay; reading and checking existing certificates uses `node:crypto`'s
 * `X509Certificate` instead. Never import this module statically (a type-only import is fine);
 * `lazy-x509.test.ts` fails if the common path loads it.
 *
 * The library resolves its algorithm plug-ins through tsyringe, which refuses to load unless a
 * Reflect metadata polyfill is already installed: `reflect-metadata` must be evaluated before
 * `@peculiar/x509`, and ESM evaluates imports in source order. Every other file in `tls/`
 * imports the library through this module, never directly.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

// Node's own WebCrypto; the library would otherwise look for a browser-style global.
x509.cryptoProvider.set(webcrypto);

export { x509 };
