import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { runGraft, tempDir } from './helpers.js';
import { CLI_MD, cliReference, parserFlags, undocumented } from '../scripts/cli-reference.mjs';

// The documentation against what it documents: the README stays a front page, every relative
// link lands on a file, docs/cli.md is what the parsers say today, every flag a parser takes
// is in its usage string, and the package is installable by the name the docs give.

const root = packageRoot();
const docs = join(root, 'docs');
const pages = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(docs)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

// Flags a parser accepts that its usage string does not name, known on 2026-12-07: shrink this
// list as the usage strings (owned by the commands' files) catch up; never grow it.
const KNOWN_UNDOCUMENTED: string[] = [];

/** The relative link targets of a Markdown file (inline links and images) as [file, fragment]; '' is this file. */
function relativeLinks(text: string): [string, string][] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!)
    .filter((href) => !/^[a-z][a-z0-9+.-]*:/i.test(href))
    .map((href) => {
      const [file = '', frag = ''] = href.split('#');
      return [decodeURIComponent(file), frag];
    });
}

/** GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('the documentation', () => {
  it('README.md is a front page: at most 250 lines, opening with a paragraph and the two fresh-clone commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const lines = readme.trimEnd().split('\n');
    expect(lines.length, `README.md has ${lines.length} lines; move detail into docs/`).toBeLessThanOrEqual(250);
    const head = lines.slice(0, 20).join('\n');
    expect(head).toContain('npm ci && npm start');
    expect(head).toContain('npm ci && npm test');
    expect(readme).toContain('npm install graft-gnn');
  });

  it('every relative link in README.md, CHANGELOG.md and docs/*.md points to a file that exists, and to a heading there', () => {
    const broken: string[] = [];
    let count = 0;
    for (const page of pages) {
      for (const [file, frag] of relativeLinks(readFileSync(join(root, page), 'utf8'))) {
        count++;
        const target = file ? resolve(root, dirname(page), file) : join(root, page);
        if (!existsSync(target)) broken.push(`${page}: ${file} is missing`);
        else if (frag && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(frag))
          broken.push(`${page}: ${file}#${frag} names no heading`);
      }
    }
    expect(broken).toEqual([]);
    expect(count).toBeGreaterThan(20); // the link finder finds links (README alone has more)
  });

  it("the link finder sees inline links and images, not code or URLs; anchors are GitHub's", () => {
    expect(
      relativeLinks(
        '[a](docs/x.md#y) ![i](data/f.svg) [u](https://e.org) [h](#top) `[c](no.md)`\n```\n[d](no2.md)\n```',
      ),
    ).toEqual([
      ['docs/x.md', 'y'],
      ['data/f.svg', ''],
      ['', 'top'],
    ]);
    expect([
      ...anchors(
        '# Graft\n## Molecules (`graft train --task graph`)\n```\n# not a heading\n```\n## [0.1.0] - 2026-12-03\n## Graft',
      ),
    ]).toEqual(['graft', 'molecules-graft-train---task-graph', '010---2026-12-03', 'graft-1']);
  });

  it('docs/cli.md is what `npm run docs:cli` writes from the parsers today', async () => {
    const committed = readFileSync(CLI_MD, 'utf8');
    const now = await cliReference();
    if (committed !== now)
      expect.fail("docs/cli.md differs from the parsers' usage: run `npm run docs:cli` and commit docs/cli.md");
    for (const cmd of [
      'train',
      'eval',
      'predict',
      'import',
      'export',
      'quantize',
      'gp',
      'generate-gp',
      'mb',
      'explain',
      'motif-task',
      'sweep',
      'bench',
      'scaling',
      'demo',
      'demo-cora',
    ]) {
      expect(committed, cmd).toContain(`graft ${cmd} `);
    }
  });

  it("every flag a parser accepts is named in its command's usage string (the known gaps aside)", async () => {
    const entries = await parserFlags();
    // The scan sees the parsers: the node trainer's flags include the distributed ones it spreads in.
    const node = entries.find((e) => e.file === 'src/cli/commands/train.ts');
    expect(node?.flags).toEqual(expect.arrayContaining(['dataset', 'node-order', 'distributed', 'ranks-per-node']));
    const gaps = undocumented(entries);
    expect(
      gaps.filter((g) => !KNOWN_UNDOCUMENTED.includes(g)),
      'add these flags to the usage string of their command',
    ).toEqual([]);
    expect(
      KNOWN_UNDOCUMENTED.filter((g) => !gaps.includes(g)),
      'documented now: remove them from KNOWN_UNDOCUMENTED',
    ).toEqual([]);
  });

  it('graft --help lists what each kind of run folder holds, and a node run holds what it lists', () => {
    const help = runGraft(['--help']).stdout;
    // Each kind's entry: its line under the heading and the more indented lines that follow it.
    const entries = new Map<string, string>();
    let kind = '';
    for (const line of help.slice(help.indexOf('What a run folder holds')).split('\n').slice(1)) {
      const m = /^ {2}(\S.*?) \([^)]*\) +(.*)$/.exec(line);
      if (m) {
        kind = m[1]!;
        entries.set(kind, m[2]!);
      } else if (kind && /^ {4,}\S/.test(line)) entries.set(kind, `${entries.get(kind)} ${line.trim()}`);
    }
    const entry = (k: string): string => entries.get(k) ?? '';
    for (const kind of ['node run', 'graph run', 'gp run', 'mb run', 'explain folder'])
      expect(entry(kind), kind).not.toBe('');
    const listed = entry('node run')
      .replace('checkpoint(.prev).safetensors', 'checkpoint.safetensors, checkpoint.prev.safetensors')
      .replace('epochs.csv/json', 'epochs.csv, epochs.json')
      .split(/,\s*/)
      .map((f) => f.trim());
    const out = join(tempDir('graft-docs-'), 'run');
    const r = runGraft(
      [
        'train',
        '--dataset',
        'synthetic',
        '--epochs',
        '12',
        '--checkpoint-every',
        '5',
        '--threads',
        '1',
        '--out',
        out,
        '--quiet',
      ],
      { GRAFT_DATA: '/nonexistent' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(listed.sort()).toEqual(readdirSync(out).sort());
  });

  it('the package is published as graft-gnn, with the graft command and graft-gnn/infer', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      name: string;
      bin: Record<string, string>;
      exports: Record<string, unknown>;
    };
    expect(pkg.name).toBe('graft-gnn');
    expect(Object.keys(pkg.bin)).toEqual(['graft']);
    expect(Object.keys(pkg.exports)).toContain('./infer');
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      name: string;
      packages: Record<string, { name?: string }>;
    };
    expect([lock.name, lock.packages['']?.name]).toEqual(['graft-gnn', 'graft-gnn']);
    const stale = pages.filter((p) =>
      /from ['"]graft(\/infer)?['"]|npm install graft(?![\w-])/.test(readFileSync(join(root, p), 'utf8')),
    );
    expect(stale, 'these pages import or install the package by its old name').toEqual([]);
    expect(statSync(join(docs, 'cli.md')).isFile()).toBe(true);
  });
});
