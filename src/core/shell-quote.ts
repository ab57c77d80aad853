import { GraftError } from './errors.js';

// The one place Graft quotes what it writes into a shell script, a tasks file or a command
// printed for the user to copy. A word is left bare only when every character is one no POSIX
// shell treats specially; anything else goes in single quotes, inside which the shell expands
// nothing ($(…), backticks, $VAR, globs, spaces all stay literal), with each embedded single
// quote written as '\'' (close, an escaped quote, reopen). A line break is refused: tasks.txt
// is one command a line, and a command split over two lines is not one a user can paste.
//
// #SBATCH lines are read by sbatch, not by the shell, so they have their own quoting
// (sbatchValue); the --output path is a Slurm filename pattern besides (slurmFilenameLiteral).

// No = (a first word FOO=bar would be an assignment), no ~ (tilde expansion at a word's start).
const BARE = /^[A-Za-z0-9_@%+:,./-]+$/;

/** Refuses a value holding a line break (or NUL, which no path can hold), naming it and what it is. */
function oneLine(value: string, what: string): void {
  if (/[\n\r\0]/.test(value)) {
    throw new GraftError(
      `${what} ${JSON.stringify(value)} holds a ${value.includes('\0') ? 'NUL byte' : 'line break'}: ` +
        'graft writes it into shell scripts and one-command-a-line task lists, where it cannot be carried; choose a name without one',
    );
  }
}

/**
 * One word for a POSIX shell (sh, bash, zsh, dash): `s` itself, as one argument, whatever it
 * holds. `what` names the value in the error for a line break (e.g. '--out').
 *
 * @example shellQuote("it's here", '--out') // → 'it'\''s here'
 */
export function shellQuote(s: string, what: string): string {
  oneLine(s, what);
  if (BARE.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * A command line of quoted words: what a shell splits back into exactly `argv`.
 *
 * @example shellCommand(['sbatch', '/tmp/my sweep/sweep.sbatch'], '--out') // → sbatch '/tmp/my sweep/sweep.sbatch'
 */
export function shellCommand(argv: readonly string[], what: string): string {
  return argv.map((a) => shellQuote(a, what)).join(' ');
}

/**
 * A value for an `#SBATCH --option=VALUE` line. sbatch splits these lines itself (src/sbatch's
 * _get_argument): whitespace separates words unless inside "…" or '…', a backslash makes the
 * next character literal (inside quotes too), and an unquoted # starts a comment. So the value
 * goes in double quotes with \ and " backslash-escaped; the shell never reads the line (to
 * bash it is a comment).
 */
export function sbatchValue(value: string, what: string): string {
  oneLine(value, what);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * A folder as the literal start of a Slurm filename pattern (--output, --error): % becomes %%
 * (else %j, %a, … in the folder's name would be replaced). A backslash is refused: in a Slurm
 * filename pattern it turns off every replacement, so the per-task %a would stay literal and
 * every array task would write the same log file.
 */
export function slurmFilenameLiteral(dir: string, what: string): string {
  oneLine(dir, what);
  if (dir.includes('\\')) {
    throw new GraftError(
      `${what} ${JSON.stringify(dir)} holds a backslash: Slurm reads a backslash in a log file pattern as "replace no %a", ` +
        'so every array task would write the same log file; choose a folder without one',
    );
  }
  return dir.replaceAll('%', '%%');
}
