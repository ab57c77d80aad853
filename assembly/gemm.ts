import { madd, maddS, loadPart, storePart, mulAdd } from './madd';

// Dense GEMM in the three forms backpropagation needs, f32, row-major, leading dimensions in
// elements, C overwritten, output rows [m0, m1) only (the runtime's unit of splitting).
//
//   gemmNN: C[M,N] = A[M,K] · B[K,N]      (X·W, forward)
//   gemmTN: C[M,N] = A[K,M]ᵀ · B[K,N]     (Xᵀ·G, weight gradient)
//   gemmNT: C[M,N] = A[M,K] · B[N,K]ᵀ     (G·Wᵀ, input gradient)
//
// Every element of C is one sequential sum in a fixed order (k ascending for NN/TN; four
// interleaved lane sums over k then a fixed horizontal add for NT), and the remainder paths
// repeat exactly that order, so the bits do not depend on how rows are split: one tile
// routine per form serves the main block and the remainders (its row/column counts are
// compile-time constants after inlining, and the `if (R > r)` guards fold away), so a row
// takes the same vector ops for the same columns whichever path computes it, in either build.
// Register blocks of 4 rows × 8 columns (NN, TN) and 2 × 4 dots (NT) keep eight independent
// accumulators in flight: V8 does not fuse mul+add, so latency hiding needs several chains.
// Splats are v128.load32_splat (vbroadcastss from memory, a load-port op) rather than
// f32x4.splat of a scalar load (a shuffle on the port the adds need).

// Rows per register block in gemmNN. TurboFan issues a loop body's loads first, so
// (R splats + 2 B vectors) + 2R accumulators + a product temporary must fit V8's 15 xmm
// registers: R = 4. Measured: 5 or 6 rows (either build) spill and run 20-40% slower, and
// unrolling k by 2 or 4 hoists all splats and spills too.
const NN_ROWS: i32 = 4;

export function gemmNN(
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  n: i32, k: i32, m0: i32, m1: i32,
): void {
  const sa = <usize>lda << 2, sb = <usize>ldb << 2, sc = <usize>ldc << 2;
  // k-blocks keep a B panel of about 512 KiB in L2 while every row block takes its share;
  // later blocks reload C and keep adding in k order, so the bits equal an unblocked sum.
  const kc = max(64, ((1 << 17) / max(n, 1)) & ~3);
  for (let p0 = 0; p0 < k; p0 += kc) {
    const ap = a + (<usize>p0 << 2), bp = b + <usize>p0 * sb, kb = min(kc, k - p0);
    if (p0 == 0) nnFirst(ap, sa, bp, sb, c, sc, n, kb, m0, m1); else nnMore(ap, sa, bp, sb, c, sc, n, kb, m0, m1);
  }
  if (k == 0) nnFirst(a, sa, b, sb, c, sc, n, 0, m0, m1);
}

function nnFirst(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32): void {
  nnPass(a, sa, b, sb, c, sc, n, k, m0, m1, false);
}

function nnMore(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32): void {
  nnPass(a, sa, b, sb, c, sc, n, k, m0, m1, true);
}

// @ts-ignore: decorator
@inline function nnPass(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32, more: bool): void {
  let i = m0;
  for (; i + NN_ROWS <= m1; i += NN_ROWS) nnRows(NN_ROWS, a + <usize>i * sa, sa, b, sb, c + <usize>i * sc, sc, n, k, more);
  for (; i < m1; i++) nnRows(1, a + <usize>i * sa, sa, b, sb, c + <usize>i * sc, sc, n, k, more);
}

// R rows (a compile-time constant after inlining) of C: 8-column tiles, one 4-column tile,
// then the last n % 4 columns as partial vectors (nnTileP); every row takes the same ops per column whichever R computes it.
// @ts-ignore: decorator
@inline function nnRows(R: i32, ar: usize, sa: usize, b: usize, sb: usize, cr: usize, sc: usize, n: i32, k: i32, more: bool): void {
  let j = 0;
  for (; j + 8 <= n; j += 8) nnTile8(R, ar, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  if (j + 4 <= n) { nnTile4(R, ar, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more); j += 4; }
  const rem = n - j;
  if (rem == 1) nnTileP(R, 1, ar, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  else if (rem == 2) nnTileP(R, 2, ar, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  else if (rem == 3) nnTileP(R, 3, ar, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
}

// The last n % 4 columns (P = 1..3) as one partial vector per row: loads and stores touch only
// those P floats, and each lane takes the scalar remainder's rounded multiply then add (mulAdd,
// unfused in both builds), so the bits are the scalar loop's.
// @ts-ignore: decorator
@inline function nnTileP(R: i32, P: i32, ar: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const a0 = ar, a1 = a0 + sa, a2 = a1 + sa, a3 = a2 + sa;
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc;
  let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
  if (more) {
    x0 = loadPart(q0, P);
    if (R > 1) x1 = loadPart(q1, P);
    if (R > 2) x2 = loadPart(q2, P);
    if (R > 3) x3 = loadPart(q3, P);
  }
  let pa0 = a0, pa1 = a1, pa2 = a2, pa3 = a3;
  const end = a0 + (<usize>k << 2);
  while (pa0 < end) {
    const b0 = loadPart(bp, P); bp += sb;
    x0 = mulAdd(v128.load32_splat(pa0), b0, x0);
    if (R > 1) x1 = mulAdd(v128.load32_splat(pa1), b0, x1);
    if (R > 2) x2 = mulAdd(v128.load32_splat(pa2), b0, x2);
    if (R > 3) x3 = mulAdd(v128.load32_splat(pa3), b0, x3);
    pa0 += 4; if (R > 1) pa1 += 4; if (R > 2) pa2 += 4; if (R > 3) pa3 += 4;
  }
  storePart(q0, x0, P);
  if (R > 1) storePart(q1, x1, P);
  if (R > 2) storePart(q2, x2, P);
  if (R > 3) storePart(q3, x3, P);
}

// @ts-ignore: decorator
@inline function nnTile8(R: i32, ar: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const a0 = ar, a1 = a0 + sa, a2 = a1 + sa, a3 = a2 + sa, a4 = a3 + sa, a5 = a4 + sa;
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc, q4 = q3 + sc, q5 = q4 + sc;
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0);
  let x10 = f32x4.splat(0), x11 = f32x4.splat(0);
  let x20 = f32x4.splat(0), x21 = f32x4.splat(0);
  let x30 = f32x4.splat(0), x31 = f32x4.splat(0);
  let x40 = f32x4.splat(0), x41 = f32x4.splat(0);
  let x50 = f32x4.splat(0), x51 = f32x4.splat(0);
  // `more` is a compile-time constant here (see nnFirst/nnMore), so this folds: a run-time
  // branch made TurboFan shuffle accumulator copies every step, and a C load masked to +0
  // would wait on C's cold lines before the first pass could start.
  if (more) {
    x00 = v128.load(q0, 0); x01 = v128.load(q0, 16);
    if (R > 1) { x10 = v128.load(q1, 0); x11 = v128.load(q1, 16); }
    if (R > 2) { x20 = v128.load(q2, 0); x21 = v128.load(q2, 16); }
    if (R > 3) { x30 = v128.load(q3, 0); x31 = v128.load(q3, 16); }
    if (R > 4) { x40 = v128.load(q4, 0); x41 = v128.load(q4, 16); }
    if (R > 5) { x50 = v128.load(q5, 0); x51 = v128.load(q5, 16); }
  }
  let pa0 = a0, pa1 = a1, pa2 = a2, pa3 = a3, pa4 = a4, pa5 = a5;
  const end = a0 + (<usize>k << 2);
  while (pa0 < end) {
    {
      const b0 = v128.load(bp, 0); const b1 = v128.load(bp, 16); bp += sb;
      { const v = v128.load32_splat(pa0, 0); x00 = madd(v, b0, x00); x01 = madd(v, b1, x01); }
      if (R > 1) { const v = v128.load32_splat(pa1, 0); x10 = madd(v, b0, x10); x11 = madd(v, b1, x11); }
      if (R > 2) { const v = v128.load32_splat(pa2, 0); x20 = madd(v, b0, x20); x21 = madd(v, b1, x21); }
      if (R > 3) { const v = v128.load32_splat(pa3, 0); x30 = madd(v, b0, x30); x31 = madd(v, b1, x31); }
      if (R > 4) { const v = v128.load32_splat(pa4, 0); x40 = madd(v, b0, x40); x41 = madd(v, b1, x41); }
      if (R > 5) { const v = v128.load32_splat(pa5, 0); x50 = madd(v, b0, x50); x51 = madd(v, b1, x51); }
    }
    pa0 += 4; if (R > 1) pa1 += 4; if (R > 2) pa2 += 4; if (R > 3) pa3 += 4; if (R > 4) pa4 += 4; if (R > 5) pa5 += 4;
  }
  v128.store(q0, x00, 0); v128.store(q0, x01, 16);
  if (R > 1) { v128.store(q1, x10, 0); v128.store(q1, x11, 16); }
  if (R > 2) { v128.store(q2, x20, 0); v128.store(q2, x21, 16); }
  if (R > 3) { v128.store(q3, x30, 0); v128.store(q3, x31, 16); }
  if (R > 4) { v128.store(q4, x40, 0); v128.store(q4, x41, 16); }
  if (R > 5) { v128.store(q5, x50, 0); v128.store(q5, x51, 16); }
}

// @ts-ignore: decorator
@inline function nnTile4(R: i32, ar: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const a0 = ar, a1 = a0 + sa, a2 = a1 + sa, a3 = a2 + sa, a4 = a3 + sa, a5 = a4 + sa;
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc, q4 = q3 + sc, q5 = q4 + sc;
  let x00 = f32x4.splat(0);
  let x10 = f32x4.splat(0);
  let x20 = f32x4.splat(0);
  let x30 = f32x4.splat(0);
  let x40 = f32x4.splat(0);
  let x50 = f32x4.splat(0);
  // `more` is a compile-time constant here (see nnFirst/nnMore), so this folds: a run-time
  // branch made TurboFan shuffle accumulator copies every step, and a C load masked to +0
  // would wait on C's cold lines before the first pass could start.
  if (more) {
    x00 = v128.load(q0, 0);
    if (R > 1) { x10 = v128.load(q1, 0); }
    if (R > 2) { x20 = v128.load(q2, 0); }
    if (R > 3) { x30 = v128.load(q3, 0); }
    if (R > 4) { x40 = v128.load(q4, 0); }
    if (R > 5) { x50 = v128.load(q5, 0); }
  }
  let pa0 = a0, pa1 = a1, pa2 = a2, pa3 = a3, pa4 = a4, pa5 = a5;
  const end = a0 + (<usize>k << 2);
  while (pa0 < end) {
    {
      const b0 = v128.load(bp, 0); bp += sb;
      { const v = v128.load32_splat(pa0, 0); x00 = madd(v, b0, x00); }
      if (R > 1) { const v = v128.load32_splat(pa1, 0); x10 = madd(v, b0, x10); }
      if (R > 2) { const v = v128.load32_splat(pa2, 0); x20 = madd(v, b0, x20); }
      if (R > 3) { const v = v128.load32_splat(pa3, 0); x30 = madd(v, b0, x30); }
      if (R > 4) { const v = v128.load32_splat(pa4, 0); x40 = madd(v, b0, x40); }
      if (R > 5) { const v = v128.load32_splat(pa5, 0); x50 = madd(v, b0, x50); }
    }
    pa0 += 4; if (R > 1) pa1 += 4; if (R > 2) pa2 += 4; if (R > 3) pa3 += 4; if (R > 4) pa4 += 4; if (R > 5) pa5 += 4;
  }
  v128.store(q0, x00, 0);
  if (R > 1) { v128.store(q1, x10, 0); }
  if (R > 2) { v128.store(q2, x20, 0); }
  if (R > 3) { v128.store(q3, x30, 0); }
  if (R > 4) { v128.store(q4, x40, 0); }
  if (R > 5) { v128.store(q5, x50, 0); }
}

// Rows of A and B per pass in gemmTN: a register block's A[p0:p1, i:i+4] and B[p0:p1, j:j+8]
// strips stay in L1 while the block's neighbours reuse them. Both strips walk rows lda and
// ldb floats apart; at a power-of-two stride such as 256 floats they fall into a few L1 sets,
// so a short pass (measured: 24 rows, against 16..512) keeps them resident. Later passes
// reload C into the accumulators and keep adding in the same k order, so the bits equal an
// unblocked sum.
const KC: i32 = 24;

export function gemmTN(
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  n: i32, k: i32, m0: i32, m1: i32,
): void {
  const sa = <usize>lda << 2, sb = <usize>ldb << 2, sc = <usize>ldc << 2;
  // Long passes over narrow panels (arxiv Hᵀ·G: K = 32768, 256 + 256 floats wide) stall on
  // each pass's first misses; touching the next pass's panels first overlaps them (measured
  // +8%). Wide panels (genomic Xᵀ·G: 20000 floats) would only evict L2, so they skip it.
  // Narrow outputs (n <= 16: a pass is only a few tiles per row block) spread the next A panel's
  // touches over the pass instead (see tnPass): measured 10% faster on cora's Xᵀ·G [1433x2708]
  // ·[2708x16], 4% on pubmed's, while wider ones lose 4-10% that way.
  const ahead = m1 - m0 + n <= 2048, spread = ahead && n <= 16;
  let seen = 0;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const p1 = min(p0 + KC, k), p2 = min(p1 + KC, k);
    const nxt = a + <usize>p1 * sa, nrows = spread ? p2 - p1 : 0;
    if (ahead) {
      if (!spread) seen ^= touch(a + <usize>p1 * sa + (<usize>m0 << 2), sa, m1 - m0, p2 - p1);
      seen ^= touch(b + <usize>p1 * sb, sb, n, p2 - p1);
    }
    const ap = a + <usize>p0 * sa, bp = b + <usize>p0 * sb;
    if (p0 == 0) seen ^= tnFirst(ap, sa, bp, sb, c, sc, n, p1 - p0, m0, m1, nxt, nrows);
    else seen ^= tnMore(ap, sa, bp, sb, c, sc, n, p1 - p0, m0, m1, nxt, nrows);
  }
  // Keeps the touches alive; when taken it stores back the bits already there.
  if (seen == 0x5a5a5a5a && m1 > m0 && n > 0) store<i32>(c + <usize>m0 * sc, load<i32>(c + <usize>m0 * sc));
  if (k == 0) tnFirst(a, sa, b, sb, c, sc, n, 0, m0, m1, a, 0);
}

// One load per cache line of rows [0, rows) × floats [0, w) of a panel: issued together they
// bring the next k-pass's panels in while the current pass computes.
function touch(p: usize, stride: usize, w: i32, rows: i32): i32 {
  let x = 0;
  if (w <= 0) return 0;
  const last = <usize>(w - 1) << 2;
  for (let r = 0; r < rows; r++) {
    for (let o: usize = 0; o <= last; o += 64) x ^= load<i32>(p + o);
    x ^= load<i32>(p + last);
    p += stride;
  }
  return x;
}

function tnFirst(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32, nxt: usize, nrows: i32): i32 {
  return tnPass(a, sa, b, sb, c, sc, n, k, m0, m1, nxt, nrows, false);
}

function tnMore(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32, nxt: usize, nrows: i32): i32 {
  return tnPass(a, sa, b, sb, c, sc, n, k, m0, m1, nxt, nrows, true);
}

// Every fourth row block (one cache line of A columns) also touches that line in each of the
// next pass's nrows rows of A, so the next panel arrives spread over this pass's compute.
// @ts-ignore: decorator
@inline function tnPass(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32, nxt: usize, nrows: i32, more: bool): i32 {
  let x = 0;
  let i = m0;
  for (; i + 4 <= m1; i += 4) {
    if (((i - m0) & 15) == 0) { let q = nxt + (<usize>i << 2); for (let r = 0; r < nrows; r++) { x ^= load<i32>(q); q += sa; } }
    tnRows(4, a + (<usize>i << 2), sa, b, sb, c + <usize>i * sc, sc, n, k, more);
  }
  if (i < m1) { let q = nxt + (<usize>(m1 - 1) << 2); for (let r = 0; r < nrows; r++) { x ^= load<i32>(q); q += sa; } }
  for (; i < m1; i++) tnRows(1, a + (<usize>i << 2), sa, b, sb, c + <usize>i * sc, sc, n, k, more);
  return x;
}

// R rows of C (columns i..i+R-1 of A, contiguous in each A row): as nnRows.
// @ts-ignore: decorator
@inline function tnRows(R: i32, ai: usize, sa: usize, b: usize, sb: usize, cr: usize, sc: usize, n: i32, k: i32, more: bool): void {
  let j = 0;
  for (; j + 8 <= n; j += 8) tnTile8(R, ai, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  if (j + 4 <= n) { tnTile4(R, ai, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more); j += 4; }
  const rem = n - j;
  if (rem == 1) tnTileP(R, 1, ai, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  else if (rem == 2) tnTileP(R, 2, ai, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
  else if (rem == 3) tnTileP(R, 3, ai, sa, b + (<usize>j << 2), sb, cr + (<usize>j << 2), sc, k, more);
}

// The last n % 4 columns as partial vectors: as nnTileP.
// @ts-ignore: decorator
@inline function tnTileP(R: i32, P: i32, ap: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc;
  let x0 = f32x4.splat(0), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
  if (more) {
    x0 = loadPart(q0, P);
    if (R > 1) x1 = loadPart(q1, P);
    if (R > 2) x2 = loadPart(q2, P);
    if (R > 3) x3 = loadPart(q3, P);
  }
  const end = bp + <usize>k * sb;
  while (bp < end) {
    const b0 = loadPart(bp, P);
    x0 = mulAdd(v128.load32_splat(ap, 0), b0, x0);
    if (R > 1) x1 = mulAdd(v128.load32_splat(ap, 4), b0, x1);
    if (R > 2) x2 = mulAdd(v128.load32_splat(ap, 8), b0, x2);
    if (R > 3) x3 = mulAdd(v128.load32_splat(ap, 12), b0, x3);
    ap += sa; bp += sb;
  }
  storePart(q0, x0, P);
  if (R > 1) storePart(q1, x1, P);
  if (R > 2) storePart(q2, x2, P);
  if (R > 3) storePart(q3, x3, P);
}

// @ts-ignore: decorator
@inline function tnTile8(R: i32, ap: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc;
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0);
  let x10 = f32x4.splat(0), x11 = f32x4.splat(0);
  let x20 = f32x4.splat(0), x21 = f32x4.splat(0);
  let x30 = f32x4.splat(0), x31 = f32x4.splat(0);
  // `more` is a compile-time constant here (see nnFirst/nnMore), so this folds: a run-time
  // branch made TurboFan shuffle accumulator copies every step, and a C load masked to +0
  // would wait on C's cold lines before the first pass could start.
  if (more) {
    x00 = v128.load(q0, 0); x01 = v128.load(q0, 16);
    if (R > 1) { x10 = v128.load(q1, 0); x11 = v128.load(q1, 16); }
    if (R > 2) { x20 = v128.load(q2, 0); x21 = v128.load(q2, 16); }
    if (R > 3) { x30 = v128.load(q3, 0); x31 = v128.load(q3, 16); }
  }
  const end = bp + <usize>k * sb;
  while (bp < end) {
    const b0 = v128.load(bp, 0); const b1 = v128.load(bp, 16);
    { const v = v128.load32_splat(ap, 0); x00 = madd(v, b0, x00); x01 = madd(v, b1, x01); }
    if (R > 1) { const v = v128.load32_splat(ap, 4); x10 = madd(v, b0, x10); x11 = madd(v, b1, x11); }
    if (R > 2) { const v = v128.load32_splat(ap, 8); x20 = madd(v, b0, x20); x21 = madd(v, b1, x21); }
    if (R > 3) { const v = v128.load32_splat(ap, 12); x30 = madd(v, b0, x30); x31 = madd(v, b1, x31); }
    ap += sa; bp += sb;
  }
  v128.store(q0, x00, 0); v128.store(q0, x01, 16);
  if (R > 1) { v128.store(q1, x10, 0); v128.store(q1, x11, 16); }
  if (R > 2) { v128.store(q2, x20, 0); v128.store(q2, x21, 16); }
  if (R > 3) { v128.store(q3, x30, 0); v128.store(q3, x31, 16); }
}

// @ts-ignore: decorator
@inline function tnTile4(R: i32, ap: usize, sa: usize, bp: usize, sb: usize, q: usize, sc: usize, k: i32, more: bool): void {
  const q0 = q, q1 = q0 + sc, q2 = q1 + sc, q3 = q2 + sc;
  let x00 = f32x4.splat(0);
  let x10 = f32x4.splat(0);
  let x20 = f32x4.splat(0);
  let x30 = f32x4.splat(0);
  // `more` is a compile-time constant here (see nnFirst/nnMore), so this folds: a run-time
  // branch made TurboFan shuffle accumulator copies every step, and a C load masked to +0
  // would wait on C's cold lines before the first pass could start.
  if (more) {
    x00 = v128.load(q0, 0);
    if (R > 1) { x10 = v128.load(q1, 0); }
    if (R > 2) { x20 = v128.load(q2, 0); }
    if (R > 3) { x30 = v128.load(q3, 0); }
  }
  const end = bp + <usize>k * sb;
  while (bp < end) {
    const b0 = v128.load(bp, 0);
    { const v = v128.load32_splat(ap, 0); x00 = madd(v, b0, x00); }
    if (R > 1) { const v = v128.load32_splat(ap, 4); x10 = madd(v, b0, x10); }
    if (R > 2) { const v = v128.load32_splat(ap, 8); x20 = madd(v, b0, x20); }
    if (R > 3) { const v = v128.load32_splat(ap, 12); x30 = madd(v, b0, x30); }
    ap += sa; bp += sb;
  }
  v128.store(q0, x00, 0);
  if (R > 1) { v128.store(q1, x10, 0); }
  if (R > 2) { v128.store(q2, x20, 0); }
  if (R > 3) { v128.store(q3, x30, 0); }
}

// Horizontal sum in a fixed order: (l0 + l1) + (l2 + l3).
// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// hsum of four vectors into the lanes of one: [hsum(u0), hsum(u1), hsum(u2), hsum(u3)].
// @ts-ignore: decorator
@inline function hsum4(u0: v128, u1: v128, u2: v128, u3: v128): v128 {
  const p01 = f32x4.add(v128.shuffle<f32>(u0, u1, 0, 4, 2, 6), v128.shuffle<f32>(u0, u1, 1, 5, 3, 7));
  const p23 = f32x4.add(v128.shuffle<f32>(u2, u3, 0, 4, 2, 6), v128.shuffle<f32>(u2, u3, 1, 5, 3, 7));
  return f32x4.add(v128.shuffle<f32>(p01, p23, 0, 1, 4, 5), v128.shuffle<f32>(p01, p23, 2, 3, 6, 7));
}

// One NT element: the order every path below reproduces.
// @ts-ignore: decorator
@inline function ntDot(ar: usize, br: usize, k: i32): f32 {
  let acc = f32x4.splat(0);
  const k4 = k & ~3;
  for (let p = 0; p < k4; p += 4) {
    acc = madd(v128.load(ar + (<usize>p << 2)), v128.load(br + (<usize>p << 2)), acc);
  }
  let s = hsum(acc);
  for (let p = k4; p < k; p++) s = maddS(load<f32>(ar + (<usize>p << 2)), load<f32>(br + (<usize>p << 2)), s);
  return s;
}

// @ts-ignore: decorator
@inline function ntTail(ar: usize, br: usize, k4: i32, k: i32, s: f32): f32 {
  for (let p = k4; p < k; p++) s = maddS(load<f32>(ar + (<usize>p << 2)), load<f32>(br + (<usize>p << 2)), s);
  return s;
}

// Dot tiles in gemmNT: NT_ROWS rows of A against NT_COLS rows of B, one accumulator each;
// R + C loads + R·C accumulators + a product temporary fill V8's 15 xmm registers. Measured
// alternatives: 3×3 (relaxed: equal), 2×3 and 3×4 (slower, 3×4 spills). ntTile is written
// for R ≤ 2, C ≤ 4; R = C = 1 is exactly ntDot. Pointer bumps instead of one index save
// TurboFan a lea per stream and measure 3% faster.
const NT_ROWS: i32 = 2;
const NT_COLS: i32 = 4;

export function gemmNT(
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  n: i32, k: i32, m0: i32, m1: i32,
): void {
  const sa = <usize>lda << 2, sb = <usize>ldb << 2, sc = <usize>ldc << 2;
  if (k < 8 && n >= 4) { ntShort(a, sa, b, sb, c, sc, n, k, m0, m1); return; }
  let i = m0;
  for (; i + NT_ROWS <= m1; i += NT_ROWS) ntRows(NT_ROWS, a + <usize>i * sa, sa, b, sb, c + <usize>i * sc, sc, n, k);
  for (; i < m1; i++) ntRows(1, a + <usize>i * sa, sa, b, sb, c + <usize>i * sc, sc, n, k);
}

// @ts-ignore: decorator
@inline function ntRows(R: i32, ar: usize, sa: usize, b: usize, sb: usize, cr: usize, sc: usize, n: i32, k: i32): void {
  let j = 0;
  for (; j + NT_COLS <= n; j += NT_COLS) ntTile(R, NT_COLS, ar, sa, b + <usize>j * sb, sb, cr + (<usize>j << 2), sc, k);
  for (; j < n; j++) ntTile(R, 1, ar, sa, b + <usize>j * sb, sb, cr + (<usize>j << 2), sc, k);
}

// @ts-ignore: decorator
@inline function ntTile(R: i32, C: i32, ar: usize, sa: usize, br: usize, sb: usize, q: usize, sc: usize, k: i32): void {
  const k4 = k & ~3;
  const a0 = ar, a1 = a0 + sa;
  const b0 = br, b1 = b0 + sb, b2 = b1 + sb, b3 = b2 + sb;
  let x00 = f32x4.splat(0), x01 = f32x4.splat(0), x02 = f32x4.splat(0), x03 = f32x4.splat(0);
  let x10 = f32x4.splat(0), x11 = f32x4.splat(0), x12 = f32x4.splat(0), x13 = f32x4.splat(0);
  let pa0 = a0, pa1 = a1;
  let pb0 = b0, pb1 = b1, pb2 = b2, pb3 = b3;
  const end = a0 + (<usize>k4 << 2);
  while (pa0 < end) {
    const u0 = v128.load(pa0);
    let u1 = f32x4.splat(0); if (R > 1) u1 = v128.load(pa1);
    { const w = v128.load(pb0); x00 = madd(u0, w, x00); if (R > 1) { x10 = madd(u1, w, x10); } }
    if (C > 1) { const w = v128.load(pb1); x01 = madd(u0, w, x01); if (R > 1) { x11 = madd(u1, w, x11); } }
    if (C > 2) { const w = v128.load(pb2); x02 = madd(u0, w, x02); if (R > 1) { x12 = madd(u1, w, x12); } }
    if (C > 3) { const w = v128.load(pb3); x03 = madd(u0, w, x03); if (R > 1) { x13 = madd(u1, w, x13); } }
    pa0 += 16; if (R > 1) { pa1 += 16; } pb0 += 16; if (C > 1) { pb1 += 16; } if (C > 2) { pb2 += 16; } if (C > 3) { pb3 += 16; }
  }
  if (C == 4) {
    // Four dots' horizontal sums at once, each lane (l0 + l1) + (l2 + l3) as hsum, then the
    // k % 4 tail with B's four rows gathered per k: the same adds, fewer lane moves.
    let s0 = hsum4(x00, x01, x02, x03);
    for (let p = k4; p < k; p++) s0 = mulAdd(v128.load32_splat(a0 + (<usize>p << 2)), bCol(b0, sb, p), s0);
    v128.store(q, s0);
    if (R > 1) {
      let s1 = hsum4(x10, x11, x12, x13);
      for (let p = k4; p < k; p++) s1 = mulAdd(v128.load32_splat(a1 + (<usize>p << 2)), bCol(b0, sb, p), s1);
      v128.store(q + sc, s1);
    }
    return;
  }
  store<f32>(q, ntTail(a0, b0, k4, k, hsum(x00)), 0);
  if (C > 1) { store<f32>(q, ntTail(a0, b1, k4, k, hsum(x01)), 4); }
  if (C > 2) { store<f32>(q, ntTail(a0, b2, k4, k, hsum(x02)), 8); }
  if (C > 3) { store<f32>(q, ntTail(a0, b3, k4, k, hsum(x03)), 12); }
  if (R > 1) { store<f32>(q + 1 * sc, ntTail(a1, b0, k4, k, hsum(x10)), 0); }
  if (R > 1 && C > 1) { store<f32>(q + 1 * sc, ntTail(a1, b1, k4, k, hsum(x11)), 4); }
  if (R > 1 && C > 2) { store<f32>(q + 1 * sc, ntTail(a1, b2, k4, k, hsum(x12)), 8); }
  if (R > 1 && C > 3) { store<f32>(q + 1 * sc, ntTail(a1, b3, k4, k, hsum(x13)), 12); }
}

// Short dots (k < 8: G·Wᵀ into a narrow layer, pubmed's k = 3): dot tiles would spend most of
// their time in horizontal adds and scalar tails, so four columns go at once instead, each lane
// one element in ntDot's order: lane products of the first four k (madd onto zero), added
// (p0 + p1) + (p2 + p3) as hsum does, then the rest with a rounded multiply then add. The four
// B rows are transposed into registers once per column block; the last n % 4 columns take
// ntDot itself.
function ntShort(a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n: i32, k: i32, m0: i32, m1: i32): void {
  const n4 = n & ~3;
  if (k == 0) ntShortK(0, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 1) ntShortK(1, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 2) ntShortK(2, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 3) ntShortK(3, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 4) ntShortK(4, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 5) ntShortK(5, a, sa, b, sb, c, sc, n4, m0, m1);
  else if (k == 6) ntShortK(6, a, sa, b, sb, c, sc, n4, m0, m1);
  else ntShortK(7, a, sa, b, sb, c, sc, n4, m0, m1);
  if (n4 < n) {
    for (let i = m0; i < m1; i++) {
      const ar = a + <usize>i * sa, cr = c + <usize>i * sc;
      for (let j = n4; j < n; j++) store<f32>(cr + (<usize>j << 2), ntDot(ar, b + <usize>j * sb, k));
    }
  }
}

// Lanes l = 0..3: B[j + l, q] (bj = B row j).
// @ts-ignore: decorator
@inline function bCol(bj: usize, sb: usize, q: i32): v128 {
  const o = <usize>q << 2;
  let v = v128.load32_zero(bj + o);
  v = v128.load32_lane(bj + sb + o, v, 1);
  v = v128.load32_lane(bj + 2 * sb + o, v, 2);
  return v128.load32_lane(bj + 3 * sb + o, v, 3);
}

// @ts-ignore: decorator
@inline function ntShortK(K: i32, a: usize, sa: usize, b: usize, sb: usize, c: usize, sc: usize, n4: i32, m0: i32, m1: i32): void {
  const z = f32x4.splat(0);
  for (let j = 0; j < n4; j += 4) {
    const bj = b + <usize>j * sb;
    let t0 = z, t1 = z, t2 = z, t3 = z, t4 = z, t5 = z, t6 = z;
    if (K > 0) t0 = bCol(bj, sb, 0);
    if (K > 1) t1 = bCol(bj, sb, 1);
    if (K > 2) t2 = bCol(bj, sb, 2);
    if (K > 3) t3 = bCol(bj, sb, 3);
    if (K > 4) t4 = bCol(bj, sb, 4);
    if (K > 5) t5 = bCol(bj, sb, 5);
    if (K > 6) t6 = bCol(bj, sb, 6);
    let ar = a + <usize>m0 * sa, q = c + <usize>m0 * sc + (<usize>j << 2);
    for (let i = m0; i < m1; i++) {
      let s = z;
      if (K >= 4) {
        s = f32x4.add(
          f32x4.add(madd(v128.load32_splat(ar, 0), t0, z), madd(v128.load32_splat(ar, 4), t1, z)),
          f32x4.add(madd(v128.load32_splat(ar, 8), t2, z), madd(v128.load32_splat(ar, 12), t3, z)));
        if (K > 4) s = mulAdd(v128.load32_splat(ar, 16), t4, s);
        if (K > 5) s = mulAdd(v128.load32_splat(ar, 20), t5, s);
        if (K > 6) s = mulAdd(v128.load32_splat(ar, 24), t6, s);
      } else {
        if (K > 0) s = mulAdd(v128.load32_splat(ar, 0), t0, s);
        if (K > 1) s = mulAdd(v128.load32_splat(ar, 4), t1, s);
        if (K > 2) s = mulAdd(v128.load32_splat(ar, 8), t2, s);
      }
      v128.store(q, s);
      ar += sa; q += sc;
    }
  }
}
