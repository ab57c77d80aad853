import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sbatchValue, shellCommand, shellQuote, slurmFilenameLiteral } from '../src/core/shell-quote.js';
import { sbatchWords } from './sbatch-parse.js';
import { tempDir } from './helpers.js';

// The oracle is the shell itself: bash (and dash, where installed) splits the quoted command
// line back into words, printed NUL-separated, in an empty folder where any command
// substitution that slipped through would leave a file behind.

const HOSTILE = [
  'plain',
  '',
  'a b',
  "it's",
  "''",
  '"q"',
  '$(touch x)',
  '`touch y`',
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${PATH} is one of the hostile strings under test
  '${PATH}',
  '*',
  '~',
  '~/z',
  '\\',
  'a\\nb',
  '!',
  '!!',
  '#not a comment',
  ';',
  '&&',
  '|',
  '>out',
  '<in',
  '(',
  ')',
  '{a,b}',
  '[ab]',
  'tab\there',
  '-n',
  '--dir=x',
  'A=b',
  'é ü 漢字',
  '%a %%',
  "mix 'single' and \"double\" $(and) `back` \\ end'",
];

function argvThrough(shell: string, line: string): { argv: string[]; created: string[] } {
  const cwd = tempDir('graft-quote-');
  const r = spawnSync(shell, ['-c', `printf '%s\\0' ${line}`], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env['PATH']!, HOME: '/home/someone' },
  });
  expect(r.status, r.stderr).toBe(0);
  return { argv: r.stdout.split('\0').slice(0, -1), created: readdirSync(cwd) };
}

const shells = ['bash', 'dash', 'sh'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

describe('shellQuote / shellCommand', () => {
  it.each(shells)('%s reads each hostile word back as itself, one argument each, and runs nothing', (shell) => {
    const { argv, created } = argvThrough(shell, shellCommand(HOSTILE, 'test'));
    expect(argv).toEqual(HOSTILE);
    expect(created).toEqual([]);
  });

  it('leaves plain words bare and quotes the rest in single quotes', () => {
    expect(shellCommand(['sbatch', '/tmp/sw/sweep.sbatch', '--task', '3'], 't')).toBe(
      'sbatch /tmp/sw/sweep.sbatch --task 3',
    );
    expect(shellQuote("it's", 't')).toBe(`'it'\\''s'`);
    expect(shellQuote('', 't')).toBe(`''`);
    expect(shellQuote('A=b', 't')).toBe(`'A=b'`); // bare, a first word would be an assignment
    expect(shellQuote('~', 't')).toBe(`'~'`);
  });

  it('refuses a line break or NUL, naming the value and what it is', () => {
    expect(() => shellQuote('/tmp/a\nb', '--out')).toThrow(/^--out "\/tmp\/a\\nb" holds a line break/);
    expect(() => shellQuote('a\rb', '--dir')).toThrow(/^--dir "a\\rb" holds a line break/);
    expect(() => shellCommand(['ok', 'a\0b'], '--out')).toThrow(/holds a NUL byte/);
  });
});

describe('sbatchValue / slurmFilenameLiteral (#SBATCH lines, read by sbatch)', () => {
  it('sbatch reads each hostile value back as one word', () => {
    for (const v of HOSTILE) {
      const line = `#SBATCH --output=${sbatchValue(v, 't')} --time=1:00`;
      expect(sbatchWords(line), line).toEqual([`--output=${v}`, '--time=1:00']);
    }
    // The parser port agrees with what a bare value did before: split at the space, # a comment.
    expect(sbatchWords('#SBATCH --output=/tmp/a b/task-%a.out')).toEqual(['--output=/tmp/a', 'b/task-%a.out']);
    expect(sbatchWords('#SBATCH --output=/tmp/#1/task-%a.out')).toEqual(['--output=/tmp/']);
  });

  it('doubles % in a folder (a literal in a Slurm filename pattern) and refuses a backslash, saying why', () => {
    expect(slurmFilenameLiteral('/tmp/50%done/%j', '--out')).toBe('/tmp/50%%done/%%j');
    expect(() => slurmFilenameLiteral('/tmp/a\\b', '--out')).toThrow(
      /--out "\/tmp\/a\\\\b" holds a backslash: Slurm reads a backslash in a log file pattern as "replace no %a"/,
    );
    expect(() => sbatchValue('a\nb', '--out')).toThrow(/holds a line break/);
  });

  it('the bash comment an #SBATCH line is stays one comment: bash runs nothing in it', () => {
    const cwd = tempDir('graft-quote-');
    const r = spawnSync('bash', ['-c', `#SBATCH --output=${sbatchValue('$(touch x) `touch y`', 't')}\necho ok`], {
      cwd,
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('ok\n');
    expect(existsSync(`${cwd}/x`) || existsSync(`${cwd}/y`)).toBe(false);
  });
});
