/** `--command-line` splits into words as a POSIX shell (and az's shlex) splits them. */
import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { splitCommandLine } from './container.js';

describe('splitCommandLine', () => {
  it('splits on blanks and keeps quoted words whole', () => {
    expect(splitCommandLine(`/bin/sh -c 'echo "hi there"; exit 1'`)).toEqual([
      '/bin/sh',
      '-c',
      'echo "hi there"; exit 1',
    ]);
    expect(splitCommandLine(`echo "a \\"b\\"" c\\ d ''`)).toEqual(['echo', 'a "b"', 'c d', '']);
    expect(splitCommandLine('  ')).toEqual([]);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitCommandLine(`sh -c 'echo`)).toThrow(CliError);
  });
});
