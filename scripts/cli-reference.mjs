#!/usr/bin/env node
// docs/cli.md, generated from the parsers: `graft --help` as the built CLI prints it (every
// command's usage string, the strings each src/cli file exports), then each parser's flags as
// its parseArgs call declares them, read from the source. `npm run docs:cli` rewrites the
// file; test/docs.test.ts regenerates it in memory and fails when the committed one differs,
// and fails on a flag a parser accepts that its file's usage string never names.
// Usage: node scripts/cli-reference.mjs [--check]   (needs the build: npm run build)
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_MD = join(root, 'docs', 'cli.md');

/** The text of the object literal whose `{` is at `open`, braces matched (strings skipped). */
function braced(src, open) {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < src.length && src[i] !== c; i++) if (src[i] === '\\') i++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return src.slice(open + 1, i);
  }
  throw new Error(`unbalanced braces after offset ${open}`);
}

/** The top-level keys of an object literal's body, and the names it spreads (`...NAME`). */
function keysOf(body) {
  const keys = [],
    spreads = [];
  let depth = 0,
    start = 0;
  const entries = [];
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === "'" || c === '"' || c === '`') {
      for (i++; i < body.length && body[i] !== c; i++) if (body[i] === '\\') i++;
      continue;
    }
    if (c === '{' || c === '[' || c === '(') depth++;
    else if (c === '}' || c === ']' || c === ')') depth--;
    else if ((c === ',' && depth === 0) || i === body.length) {
      entries.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  for (const e of entries.filter(Boolean)) {
    const spread = /^\.\.\.([A-Za-z_$][\w$]*)$/.exec(e);
    const key = /^(?:'([^']+)'|"([^"]+)"|([A-Za-z_$][\w$-]*))\s*:/.exec(e);
    if (spread) spreads.push(spread[1]);
    else if (key) keys.push(key[1] ?? key[2] ?? key[3]);
  }
  return { keys, spreads };
}

/** The .ts files under `dir`, as paths relative to it ('args.ts', 'commands/train.ts'), sorted. */
function tsFiles(dir, under = '') {
  return readdirSync(join(dir, under), { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? tsFiles(dir, join(under, e.name)) : e.name.endsWith('.ts') ? [join(under, e.name)] : [],
    )
    .sort();
}

/**
 * Per src/cli file (commands/ and the helpers beside main.ts): the flags its parseArgs calls accept (spreads of an exported options
 * object resolved, with that object's file), and the usage strings it and those files export.
 */
export async function parserFlags() {
  const dir = join(root, 'src', 'cli');
  const files = tsFiles(dir);
  const src = Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  const exportedObject = (name) => {
    for (const f of files) {
      const m = new RegExp(`export const ${name}\\s*=\\s*\\{`).exec(src[f]);
      if (m) return { file: f, body: braced(src[f], m.index + m[0].length - 1) };
    }
    throw new Error(`src/cli: cannot find the options object ${name} that a parser spreads`);
  };
  const usageOf = async (f) => {
    const mod = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', f.replace(/\.ts$/, '.js'))).href);
    return Object.entries(mod)
      .filter(([k, v]) => k.endsWith('_USAGE') && typeof v === 'string')
      .map(([, v]) => v);
  };
  const out = [];
  for (const f of files) {
    const flags = new Set(),
      from = new Set([f]);
    for (const m of src[f].matchAll(/parseArgs\(\{/g)) {
      const call = braced(src[f], m.index + m[0].length - 1);
      const at = /\boptions:\s*\{/.exec(call);
      if (!at) throw new Error(`src/cli/${f}: a parseArgs call without an inline options object`);
      const pending = [braced(call, at.index + at[0].length - 1)];
      while (pending.length) {
        const { keys, spreads } = keysOf(pending.pop());
        keys.forEach((k) => {
          flags.add(k);
        });
        for (const s of spreads) {
          const o = exportedObject(s);
          from.add(o.file);
          pending.push(o.body);
        }
      }
    }
    if (flags.size === 0) continue;
    const usage = (await Promise.all([...from].map(usageOf))).flat().join('\n');
    out.push({ file: `src/cli/${f}`, flags: [...flags].sort(), usage });
  }
  return out;
}

/** Flags a parser accepts that its file's usage strings never write as `--flag`. */
export function undocumented(entries) {
  return entries.flatMap((e) =>
    e.flags.filter((k) => !new RegExp(`--${k}(?![\\w-])`).test(e.usage)).map((k) => `${e.file}: --${k}`),
  );
}

/** docs/cli.md's text. */
export async function cliReference() {
  const help = spawnSync(process.execPath, [join(root, 'dist', 'src', 'cli', 'main.js'), '--help'], {
    encoding: 'utf8',
  });
  if (help.status !== 0)
    throw new Error(`graft --help failed (exit ${help.status}): build first (npm run build)\n${help.stderr}`);
  const entries = await parserFlags();
  const commands = [...new Set([...help.stdout.matchAll(/^ {2}graft ([a-z][a-z-]*)/gm)].map((m) => m[1]))];
  return [
    '# Command-line reference',
    '',
    '<!-- Generated by `npm run docs:cli` (scripts/cli-reference.mjs) from src/cli/; do not edit by hand. -->',
    '',
    `Every command of \`graft\` (${commands.map((c) => `\`${c}\``).join(', ')}) and every flag it takes.`,
    "The usage below is what `graft --help` prints; `graft COMMAND --help` prints one command's part.",
    "The table after it lists each parser's flags as its `parseArgs` call declares them, so it is",
    'complete even where a usage line abbreviates. Values in a usage line are the defaults.',
    '',
    '## `graft --help`',
    '',
    '```text',
    help.stdout.trimEnd(),
    '```',
    '',
    '## Flags each parser accepts',
    '',
    '| source | flags |',
    '| --- | --- |',
    ...entries.map((e) => `| \`${e.file}\` | ${e.flags.map((k) => `\`--${k}\``).join(' ')} |`),
    '',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await cliReference();
  if (process.argv.includes('--check')) {
    const same = readFileSync(CLI_MD, 'utf8') === text;
    console.log(same ? 'docs/cli.md is up to date' : 'docs/cli.md is stale: run npm run docs:cli');
    process.exitCode = same ? 0 : 1;
  } else {
    writeFileSync(CLI_MD, text);
    const gaps = undocumented(await parserFlags());
    console.log(`wrote docs/cli.md${gaps.length ? `; flags no usage string names: ${gaps.join(', ')}` : ''}`);
  }
}
