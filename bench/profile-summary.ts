/**
 * @module bench/profile-summary
 * Prints the summary of one or more `.cpuprofile` files (from `node --cpu-prof`), e.g.
 * `node dist/bench/profile-summary.js /tmp/x.cpuprofile [--top 40]` after `npm run bench` built it.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { profileMarkdown, summariseProfile } from './lib/profile.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile... [--top N]\n');
  process.exit(2);
}
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
for (const file of positionals) {
  process.stdout.write(
    profileMarkdown(basename(file), summariseProfile(file, repoRoot), Number(values.top)),
  );
  process.stdout.write('\n');
}
