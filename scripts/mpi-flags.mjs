// Compiler and linker flags of the local MPI for native/binding.gyp, from the MPI compiler
// wrapper (mpicc --showme:compile / --showme:link, as Open MPI prints them; MPICH's -show
// as a fallback). Usage: node mpi-flags.mjs include|cflags|libs
import { execFileSync } from 'node:child_process';

const mpicc = process.env.MPICC ?? 'mpicc';
const show = (arg) => {
  try {
    return execFileSync(mpicc, [arg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return null;
  }
};
const compile =
  show('--showme:compile') ??
  (show('-show') ?? []).filter((f) => f.startsWith('-I') || f.startsWith('-D') || f === '-pthread');
const link =
  show('--showme:link') ??
  (show('-show') ?? []).filter(
    (f) => f.startsWith('-L') || f.startsWith('-l') || f.startsWith('-Wl') || f === '-pthread',
  );
const what = process.argv[2];
const out =
  what === 'include'
    ? compile.filter((f) => f.startsWith('-I')).map((f) => f.slice(2))
    : what === 'cflags'
      ? compile.filter((f) => !f.startsWith('-I'))
      : link;
console.log(out.join(' '));
