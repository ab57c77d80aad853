#!/usr/bin/env node
// The install step of Graft's optional MPI addon (native/): when an MPI compiler wrapper
// (mpicc) is found, node-gyp builds native/build/Release/graft_mpi.node against the local
// Node headers and MPI. It never fails the install: without mpicc, node-gyp or a compiler it
// says why and exits 0, and Graft works without it (graft train --distributed then says
// the addon is missing). `node scripts/build-mpi.mjs` builds it again by hand.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (m) => console.error(`graft: MPI addon: ${m}`);
const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

try {
  if (process.env.GRAFT_SKIP_MPI === '1') {
    say('skipped (GRAFT_SKIP_MPI=1)');
    process.exit(0);
  }
  if (!has(process.env.MPICC ?? 'mpicc', ['--showme:version']) && !has(process.env.MPICC ?? 'mpicc', ['-show'])) {
    say(
      'skipped: no mpicc (apt-get install openmpi-bin libopenmpi-dev); Graft works without it, graft train --distributed needs it',
    );
    process.exit(0);
  }
  const gyp = nodeGyp();
  if (!gyp) {
    say('skipped: node-gyp not found (it comes with npm)');
    process.exit(0);
  }
  const args = [gyp, 'rebuild', '--directory', join(root, 'native')];
  // Build against the headers of the Node that runs this (npm passes --nodedir for its own).
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
  const r = spawnSync(process.execPath, args, { cwd: join(root, 'native'), encoding: 'utf8' });
  if (r.status !== 0) {
    say(`build failed (Graft works without it):\n${(r.stderr || r.stdout).trim().split('\n').slice(-12).join('\n')}`);
    process.exit(0);
  }
  const built = join(root, 'native', 'build', 'Release', 'graft_mpi.node');
  say(
    existsSync(built)
      ? `built ${built} (${
          execFileSync(process.env.MPICC ?? 'mpicc', ['--showme:version'], { encoding: 'utf8' })
            .trim()
            .split('\n')[0]
        })`
      : 'node-gyp ran but made no graft_mpi.node',
  );
} catch (err) {
  say(`skipped: ${err.message}`);
}
process.exit(0);
