/**
 * @module tls/material-worker
 * Makes the TLS material in a worker thread (see `ensureTlsMaterialOffThread`): the certificate
 * library loads into the worker's heap, which is gone when the worker ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ensureTlsMaterial } from './material.js';
import type { SubjectNames } from './names.js';

const { dir, names } = workerData as { dir: string; names: SubjectNames };
await ensureTlsMaterial(dir, names);
parentPort?.postMessage('done');
