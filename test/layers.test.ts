import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';

// The architecture as a test: imports between src/ folders go one way only, nothing below the
// CLI (the package index included) imports src/cli/, the engine below src/cli/ never prints,
// its errors never name a command-line flag, every file is written through core/atomic-write
// (so nothing is ever half-written), and the CLI loads the chart renderer only to draw.

/** Folders each src/ folder may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  memory: ['core'],
  reference: ['kernels'], // only the KernelBackend interface (kernels/backend.ts)
  kernels: ['core', 'reference'],
  runtime: ['core', 'memory', 'kernels'],
  graph: ['core', 'memory'],
  ops: ['core', 'memory', 'runtime', 'graph'],
  nn: ['core', 'memory', 'runtime', 'ops', 'graph'],
  train: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn'],
  data: ['core', 'graph'],
  // Compositional data's pure pieces (normalization, zero replacement, applying a kept preprocessing,
  // scoring a forest or a logistic/ridge model): what src/microbiome fits with and graft/infer scores raw counts with.
  compositional: ['core'],
  genomics: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'train', 'data'],
  chem: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'train', 'data'],
  microbiome: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'train', 'data', 'compositional'],
  explain: [
    'core',
    'memory',
    'runtime',
    'ops',
    'graph',
    'nn',
    'train',
    'data',
    'genomics',
    'microbiome',
    'compositional',
  ],
  bench: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'train', 'quant'],
  quant: ['core', 'memory', 'ops', 'reference'], // reference: its rounding (nearestEven), the kernels' own
  infer: ['core', 'memory', 'kernels', 'reference', 'runtime', 'graph', 'ops', 'nn', 'quant', 'compositional'],
  interop: ['core'],
  distributed: ['core', 'memory', 'train'],
  store: ['core', 'graph', 'data'], // the graph store and its samplers: files and arrays outside the wasm heap
  valuation: ['core'], // Data Shapley: pure arithmetic over the caller's utility function
  soup: ['core'], // model soups: pure arithmetic over weight maps and the caller's scoring and retraining
};

const src = join(packageRoot(), 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const all = files(src).map((f) => ({ file: relative(src, f), text: readFileSync(f, 'utf8') }));
const folderOf = (rel: string): string => (rel.includes('/') ? rel.split('/')[0]! : '.');

/** The file's code with comments blanked, line numbers kept (a doc comment's @example may well print). */
function codeOf(text: string): string {
  return text
    .split('\n')
    .map((line) => (/^\s*(\*|\/\*)/.test(line) ? '' : line.replace(/\/\/.*$/, '')))
    .join('\n');
}

/** Every call matched by `opener` (a regex ending at the call's open parenthesis) with its argument text, however
 * the formatter wrapped it over lines: the text up to the balancing parenthesis. */
function callsOf(code: string, opener: RegExp): { line: number; args: string }[] {
  const out: { line: number; args: string }[] = [];
  for (const m of code.matchAll(opener)) {
    const start = m.index! + m[0].length;
    let depth = 1;
    let end = start;
    while (end < code.length && depth > 0) {
      const ch = code[end]!;
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      end++;
    }
    out.push({ line: code.slice(0, m.index).split('\n').length, args: code.slice(start, end - 1) });
  }
  return out;
}

describe('layering of src/', () => {
  it('every folder under src/ is a known layer', () => {
    const folders = new Set(all.map((f) => folderOf(f.file)).filter((f) => f !== '.'));
    expect([...folders].sort()).toEqual([...Object.keys(ALLOWED), 'cli'].sort());
  });

  it('imports go one way: each folder imports only from the folders below it', () => {
    const bad: string[] = [];
    for (const { file, text } of all) {
      const from = folderOf(file);
      if (from === 'cli') continue; // the CLI sits on top
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(src, join(dirname(join(src, file)), m[1]!));
        const to = folderOf(target);
        if (to === from) continue;
        // The package index (src/index.ts) may export from any engine folder, not from the CLI.
        const allowed = from === '.' ? Object.keys(ALLOWED) : ALLOWED[from]!;
        const ok =
          allowed.includes(to) &&
          (from !== 'reference' || target === 'kernels/backend.js') &&
          (from !== 'quant' || to !== 'reference' || target === 'reference/int8.js');
        if (!ok) bad.push(`${file} imports ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('nothing outside src/cli/ imports src/cli/ (the package index included)', () => {
    const bad: string[] = [];
    for (const { file, text } of all) {
      if (folderOf(file) === 'cli') continue;
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(src, join(dirname(join(src, file)), m[1]!));
        if (folderOf(target) === 'cli') bad.push(`${file} imports ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("the CLI loads vega only to draw: main.ts' and every command's static imports never reach it", () => {
    // Static imports only: `import type` is erased and `await import()` loads on use.
    const staticImports = (file: string): string[] => {
      const text = all.find((f) => f.file === file)?.text ?? '';
      return [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\sfrom\s+'([^']+)'/gms)].map((m) => m[1]!);
    };
    const reachesVega = (start: string): string[] | null => {
      const seen = new Set<string>();
      const path = (file: string, trail: string[]): string[] | null => {
        if (seen.has(file)) return null;
        seen.add(file);
        for (const spec of staticImports(file)) {
          if (spec === 'vega' || spec === 'vega-lite') return [...trail, file, spec];
          if (!spec.startsWith('.')) continue;
          const next = relative(src, join(dirname(join(src, file)), spec)).replace(/\.js$/, '.ts');
          const found = path(next, [...trail, file]);
          if (found) return found;
        }
        return null;
      };
      return path(start, []);
    };
    const starts = ['cli/main.ts', ...all.map((f) => f.file).filter((f) => f.startsWith('cli/commands/'))];
    expect(starts.length).toBeGreaterThan(20);
    const bad = starts.flatMap((f) => {
      const p = reachesVega(f);
      return p ? [p.join(' -> ')] : [];
    });
    expect(bad).toEqual([]);
    // The check sees a static path where there is one: the chart modules import vega.
    expect(reachesVega('cli/reports/charts/index.ts')).not.toBeNull();
  });

  it('below src/cli/ nothing prints and no error message names a command-line flag', () => {
    const bad: string[] = [];
    for (const { file, text } of all) {
      if (folderOf(file) === 'cli') continue;
      const code = codeOf(text);
      code.split('\n').forEach((line, i) => {
        if (/\bconsole\.|process\.(stdout|stderr)/.test(line)) bad.push(`${file}:${i + 1} prints: ${line.trim()}`);
      });
      for (const c of callsOf(code, /\bError\(/g))
        if (/['"`( ]--[a-z]/.test(c.args)) bad.push(`${file}:${c.line} names a flag: ${c.args.trim().slice(0, 120)}`);
    }
    expect(bad).toEqual([]);
  });

  it('files are written only through core/atomic-write (the run folder lock is an exclusive create, on purpose)', () => {
    const bad: string[] = [];
    for (const { file, text } of all) {
      if (file === 'core/atomic-write.ts') continue;
      for (const c of callsOf(
        codeOf(text),
        /\b(writeFileSync|appendFileSync|createWriteStream|writeFile|appendFile)\(/g,
      ))
        if (!/flag: 'wx'/.test(c.args)) bad.push(`${file}:${c.line}: ${c.args.trim().slice(0, 120)}`);
    }
    expect(bad).toEqual([]);
  });
});
