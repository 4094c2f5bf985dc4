import { describe, expect, it } from 'vitest';
import { formatImageName, parseImageName } from '../image-name.js';
import { parseDockerfile, parseKeyValues, substitute } from './dockerfile.js';
import { expandRunValues, parseBuildArguments, parseTaskFile } from './task-file.js';

describe('Dockerfile parsing', () => {
  it('joins continuations, skips comments, reads exec and shell forms and flags', () => {
    const instructions = parseDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=busybox',
        'FROM ${BASE} AS build',
        'RUN echo one \\',
        '    && echo two',
        '',
        'COPY --chown=app:app --from=build a b /dest/',
        'CMD ["/bin/sh", "-c", "echo hi"]',
      ].join('\n'),
    );
    expect(instructions.map((i) => i.keyword)).toEqual(['ARG', 'FROM', 'RUN', 'COPY', 'CMD']);
    expect(instructions[2]!.text).toBe('echo one      && echo two');
    expect(instructions[2]!.line).toBe(4);
    expect(instructions[3]!.flags).toEqual({ chown: 'app:app', from: 'build' });
    expect(instructions[3]!.text).toBe('a b /dest/');
    expect(instructions[4]!.json).toEqual(['/bin/sh', '-c', 'echo hi']);
  });

  it('refuses unknown instructions and files without FROM, naming the line', () => {
    expect(() => parseDockerfile('FROM x\nFETCH y')).toThrow(/line 2: unknown instruction: FETCH/);
    expect(() => parseDockerfile('RUN true')).toThrow(/no FROM/);
    expect(() => parseDockerfile('ENV A=1\nFROM x')).toThrow(/ENV before the first FROM/);
  });

  it('substitutes variables as Docker does', () => {
    const vars = { NAME: 'world', EMPTY: '' };
    expect(substitute('hello $NAME ${NAME}!', vars)).toBe('hello world world!');
    expect(substitute('${MISSING:-fallback} ${EMPTY:-dflt} ${NAME:+set}', vars)).toBe(
      'fallback dflt set',
    );
    expect(substitute('\\$NAME costs $5', vars)).toBe('$NAME costs $5');
    expect(() => substitute('${NAME', vars)).toThrow(/missing '}'/);
  });

  it('reads key=value pairs with quotes, and the legacy ENV form', () => {
    expect(parseKeyValues('A=1 B="two words" C=\'x y\'', true)).toEqual([
      ['A', '1'],
      ['B', 'two words'],
      ['C', 'x y'],
    ]);
    expect(parseKeyValues('PATH /usr/bin:/bin', true)).toEqual([['PATH', '/usr/bin:/bin']]);
    expect(parseKeyValues('VERSION', false)).toEqual([['VERSION', '']]);
  });
});

describe('image names', () => {
  it('follows Docker: registry only with a dot, port or localhost; Docker Hub library', () => {
    expect(parseImageName('busybox')).toEqual({
      registry: 'docker.io',
      repository: 'library/busybox',
      reference: 'latest',
    });
    expect(parseImageName('r.azurecr.io/team/app:v1')).toEqual({
      registry: 'r.azurecr.io',
      repository: 'team/app',
      reference: 'v1',
    });
    expect(parseImageName('127.0.0.1:5000/app@sha256:' + 'a'.repeat(64)).reference).toBe(
      `sha256:${'a'.repeat(64)}`,
    );
    expect(parseImageName('hello:ca1', 'myregistry.azurecr.localhost')).toEqual({
      registry: 'myregistry.azurecr.localhost',
      repository: 'hello',
      reference: 'ca1',
    });
    expect(formatImageName(parseImageName('localhost/app'))).toBe('localhost/app:latest');
    expect(() => parseImageName('UPPER/case')).toThrow(/invalid reference format/);
  });
});

describe('task files', () => {
  const run = { id: 'ca7', registry: 'reg.azurecr.localhost', values: { tag: 'v2' } };

  it('expands run values and aliases', () => {
    expect(expandRunValues('{{.Run.Registry}}/app:{{.Run.ID}}-{{.Values.tag}}', run)).toBe(
      'reg.azurecr.localhost/app:ca7-v2',
    );
    expect(expandRunValues('$Registry/app:$ID', run)).toBe('reg.azurecr.localhost/app:ca7');
  });

  it('parses build, push and cmd steps', () => {
    const steps = parseTaskFile(
      [
        'version: v1.1.0',
        'steps:',
        '  - build: -t $Registry/app:{{.Run.ID}} -f Dockerfile --build-arg A=1 .',
        '  - push: ["$Registry/app:{{.Run.ID}}"]',
        '  - id: smoke',
        '    cmd: $Registry/app:{{.Run.ID}} echo "it works"',
        '    env: ["X=1"]',
      ].join('\n'),
      run,
    );
    expect(steps).toEqual([
      {
        kind: 'build',
        id: 'acb_step_0',
        tags: ['reg.azurecr.localhost/app:ca7'],
        dockerfile: 'Dockerfile',
        context: '.',
        buildArgs: { A: '1' },
      },
      { kind: 'push', id: 'acb_step_1', images: ['reg.azurecr.localhost/app:ca7'] },
      {
        kind: 'cmd',
        id: 'smoke',
        image: 'reg.azurecr.localhost/app:ca7',
        args: ['echo', 'it works'],
        env: ['X=1'],
      },
    ]);
  });

  it('refuses malformed files with a reason', () => {
    expect(() => parseTaskFile('steps: []', run)).toThrow(/non-empty list of steps/);
    expect(() => parseTaskFile('steps:\n  - fly: x', run)).toThrow(/build, push or cmd/);
    expect(() => parseBuildArguments('-t x')).toThrow(/needs a context/);
    expect(() => parseBuildArguments('--squash .')).toThrow(/unknown build flag --squash/);
  });
});
