#!/usr/bin/env node
// Proves the package works as users get it: `npm pack`, install the tarball into an empty
// project, then run the library examples of README.md and docs/library.md (type-checked by tsc,
// then run), `import { Runtime } from 'graft-gnn'`, `graft-gnn/infer`, and `npx graft --help`,
// on this Node and on Node 22+ (from npm's `node` package). Exits non-zero on the first
// failure; prints SKIPPED for Node 22+ only when npm cannot fetch it.
// Usage: node scripts/pack-test.mjs [--keep] [--no-node22]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const node22 = !process.argv.includes('--no-node22');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const work = mkdtempSync(join(process.env.GRAFT_TEST_TMP ?? tmpdir(), 'graft-pack-'));

function run(cmd, args, cwd, what) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}): ${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/**
 * Every ```ts block of README.md, then of docs/library.md, in order, each once: the docs' library
 * examples, which therefore cannot rot. (Browser snippets are ```js: they fetch a file.)
 */
function docExamples() {
  const blocks = ['README.md', join('docs', 'library.md')].flatMap((f) =>
    [...readFileSync(join(root, f), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]),
  );
  return [...new Set(blocks)];
}

try {
  // --ignore-scripts: the build already exists (npm test builds first); rebuilding here would
  // rewrite dist/ under tests running beside this one.
  run(npm, ['pack', '--ignore-scripts', '--pack-destination', work], root, 'npm pack');
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  const app = join(work, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2));
  const ts = JSON.parse(readFileSync(join(root, 'node_modules', 'typescript', 'package.json'), 'utf8')).version;
  run(
    npm,
    ['install', '--no-audit', '--no-fund', join(work, tgz), `typescript@${ts}`, '@types/node@20'],
    app,
    'npm install of the tarball',
  );

  const examples = docExamples();
  if (examples.length < 2)
    throw new Error(`README.md and docs/library.md: expected at least 2 \`\`\`ts examples, found ${examples.length}`);
  const smoke = `${[
    "import { Runtime, Tensor, matmul } from 'graft-gnn';",
    'const rt = await Runtime.create({ threads: 2 });',
    "const a = Tensor.from(rt.heap, 'float32', [2, 2], [1, 2, 3, 4]);",
    'const c = await matmul(rt.exec, a, a);',
    "if (Array.from(c.data()).join() !== '7,10,15,22') throw new Error('matmul gave ' + Array.from(c.data()));",
    "console.log('smoke ok', rt.backendKind);",
    'await rt.close();',
  ].join('\n')}\n`;
  // graft-gnn/infer from the installed package: the bundle resolves, type-checks and refuses a non-model by name.
  const inferSmoke = `${[
    "import { loadModel } from 'graft-gnn/infer';",
    "await loadModel(new Uint8Array(3), { name: 'three-bytes' }).then(() => { throw new Error('graft-gnn/infer accepted 3 bytes'); },",
    '  (e) => { if (!/three-bytes: not a valid checkpoint/.test(e.message)) throw e; });',
    "console.log('graft-gnn/infer ok');",
  ].join('\n')}\n`;
  const files = [
    ['smoke', smoke],
    ['infer-smoke', inferSmoke],
    ...examples.map((code, i) => [`example-${i + 1}`, code]),
  ];
  for (const [name, code] of files) {
    writeFileSync(join(app, `${name}.ts`), code);
    writeFileSync(join(app, `${name}.mjs`), code);
  }
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: files.map(([name]) => `${name}.ts`),
      },
      null,
      2,
    ),
  );
  run(
    process.execPath,
    [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
    app,
    'tsc on the docs examples',
  );
  console.log(`pack-test: ${tgz} installs; the docs' examples and the smoke test type-check against its .d.ts`);

  const pkg = join(app, 'node_modules', 'graft-gnn');
  const nodes = [[process.execPath, [], `node ${process.version}`]];
  if (node22) {
    // npm's `node` package holds a Node 22 binary: ask it where it is, then run it directly.
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    const v = spawnSync(npx, ['-y', '-p', 'node@22', 'node', '-p', 'process.version + " " + process.execPath'], {
      cwd: app,
      encoding: 'utf8',
    });
    const [version, bin] = v.status === 0 ? v.stdout.trim().split(' ') : [];
    if (bin) nodes.push([bin, [], `node ${version}`]);
    else
      console.log(
        `pack-test: SKIPPED Node 22+: npm could not fetch node@22 (${(v.stderr || '').trim().split('\n').pop()})`,
      );
  }
  for (const [cmd, pre, label] of nodes) {
    const help = run(
      cmd,
      [...pre, join(pkg, 'dist', 'src', 'cli', 'main.js'), '--help'],
      app,
      `graft --help on ${label}`,
    );
    if (!help.includes('Usage:')) throw new Error(`graft --help on ${label} printed no usage:\n${help}`);
    console.log(run(cmd, [...pre, join(app, 'smoke.mjs')], app, `smoke test on ${label}`).trim(), `(${label})`);
    console.log(
      run(cmd, [...pre, join(app, 'infer-smoke.mjs')], app, `graft-gnn/infer smoke test on ${label}`).trim(),
      `(${label})`,
    );
    // The first example runs anywhere; the later ones may read data/synthetic-gp from the package root.
    run(cmd, [...pre, join(app, 'example-1.mjs')], app, `docs example 1 on ${label}`);
    for (let i = 2; i <= examples.length; i++)
      run(cmd, [...pre, join(app, `example-${i}.mjs`)], pkg, `docs example ${i} on ${label}`);
    console.log(`pack-test: graft --help and ${examples.length} docs examples ran on ${label}`);
  }
  run(npm, ['exec', '--', 'graft', '--help'], app, 'npx graft --help');
  console.log('pack-test: npx graft --help works');
} catch (err) {
  console.error(`pack-test: ${err.message}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`pack-test: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
