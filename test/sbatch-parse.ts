// How sbatch splits an #SBATCH line into words: a port of _get_argument in Slurm's
// src/sbatch/opt.c (unchanged in substance from 2.x to 22.05), for tests that check what Slurm
// reads from a generated script without a Slurm cluster. Whitespace separates words unless
// quoted; "…" and '…' group; a backslash makes the next character literal, inside quotes too
// (but an escaped whitespace still ends an unquoted word, as in C); an unquoted # ends the line.

export function sbatchWords(line: string): string[] {
  if (!line.startsWith('#SBATCH')) throw new Error(`not an #SBATCH line: ${JSON.stringify(line)}`);
  const s = line.slice('#SBATCH'.length);
  const words: string[] = [];
  const space = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  let p = 0;
  for (;;) {
    while (space(s[p])) p++;
    if (p >= s.length) return words;
    let word: string | null = null,
      quoted = false,
      q = '',
      esc = false;
    while (p < s.length && (quoted || !space(s[p])) && s[p] !== '\n') {
      const c = s[p]!;
      if (esc) esc = false;
      else if (c === '\\') {
        esc = true;
        p++;
        continue;
      } else if (quoted) {
        if (c === q) {
          quoted = false;
          p++;
          continue;
        }
      } else if (c === '"' || c === "'") {
        quoted = true;
        q = c;
        p++;
        continue;
      } else if (c === '#') {
        p = s.length;
        break;
      }
      word = (word ?? '') + c;
      p++;
    }
    if (quoted) throw new Error(`sbatch: Unmatched \`${q}\` in [${line}]`);
    if (word === null) return words; // as in C: a word with no characters ("" or a comment) ends the line
    words.push(word);
  }
}
