#!/usr/bin/env -S node --max-semi-space-size=4
// The compiled CLI lives in dist/ (npm run build); this shim keeps the bin path stable.
// --max-semi-space-size=4 (MiB): blob bytes live outside the JS heap, so a small young
// generation costs little and keeps the server's resident memory flat (see docs/performance.md).
import '../dist/cli/main.js';
