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
  train: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'store'], // store: sampled training reads batches from a graph store
  data: ['core', 'graph'],
  // Compositional data's pure pieces (normalization, zero replacement, applying a kept preprocessing,
  // scoring a forest or a logistic/ridge model): what src/microbiome fits with and graft/infer scores raw counts with.
  compositional: ['core'],
  genomics: ['core', 'memory', 'runtime', 'ops', 'graph', 'nn', 'train', 'data', 'soup'], // soup: graft gp --gcn-soup averages the GCN members
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

  it('worker modules are imports: each workerUrl/workerPath names a module under src/ that the layering allows', () => {
    // A module started on another thread or process (core/worker-url.ts) is loaded by a path,
    // not an import, so the rule above cannot see it; these are the same edges, checked the same
    // way. The one exception: the ceiling's child process prints, so it lives in cli/, and
    // bench/ starts it (it imports nothing of cli/ but that entry).
    const started = new Set(['bench/ceiling.ts -> cli/commands/ceiling-child']);
    const bad: string[] = [];
    let seen = 0;
    for (const { file, text } of all) {
      for (const c of callsOf(codeOf(text), /\bworker(?:Url|Path)\(/g)) {
        if (file === 'core/worker-url.ts') continue;
        const m = /^\s*'([a-z-]+(?:\/[a-z-]+)+)'\s*$/.exec(c.args);
        if (!m) {
          bad.push(`${file}:${c.line}: workerUrl's argument must be a literal 'folder/file' (got ${c.args.trim()})`);
          continue;
        }
        seen++;
        const target = m[1]!;
        if (!all.some((f) => f.file === `${target}.ts`)) bad.push(`${file}:${c.line}: no module src/${target}.ts`);
        const from = folderOf(file),
          to = folderOf(`${target}.ts`);
        if (from === to || from === '.' || from === 'cli' || started.has(`${file} -> ${target}`)) continue;
        if (!ALLOWED[from]!.includes(to)) bad.push(`${file} starts ${target}`);
      }
    }
    expect(bad).toEqual([]);
    expect(seen).toBeGreaterThanOrEqual(6); // runtime, branch, shard, cv and forest workers, the ceiling's child
  });

  it('no import cycles: no file imports itself through others (type imports count)', () => {
    // Import cycles still being taken apart, each as its files sorted and joined by a space: none
    // today, and no other may appear.
    const known = new Set<string>([]);
    const edges = new Map<string, string[]>();
    for (const { file, text } of all) {
      const to = new Set<string>();
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g))
        to.add(`${relative(src, join(dirname(join(src, file)), m[1]!))}.ts`);
      edges.set(
        file,
        [...to].filter((t) => t !== file),
      );
    }
    // Tarjan's strongly connected components: every component of more than one file is a cycle.
    const index = new Map<string, number>(),
      low = new Map<string, number>(),
      stack: string[] = [],
      onStack = new Set<string>();
    const cycles: string[] = [];
    const visit = (v: string): void => {
      index.set(v, index.size);
      low.set(v, index.get(v)!);
      stack.push(v);
      onStack.add(v);
      for (const w of edges.get(v) ?? []) {
        if (!edges.has(w)) continue;
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) !== index.get(v)) return;
      const component: string[] = [];
      for (let w = ''; w !== v; ) {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      }
      if (component.length > 1) cycles.push(component.sort().join(' '));
    };
    for (const v of edges.keys()) if (!index.has(v)) visit(v);
    expect(cycles.filter((c) => !known.has(c))).toEqual([]);
  });
});
