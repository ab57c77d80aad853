import { GraftError } from '../core/errors.js';
import { rdkit } from './rdkit.js';

// How far a molecule is from the ones a model learned: the Tanimoto similarity of Morgan
// fingerprints (radius 2, 2048 bits, RDKit's), the chemist's usual applicability-domain
// measure. Fingerprints are kept packed, 8 bits a byte as RDKit gives them.

/** Bits of the similarity fingerprint (the model's own hybrid branch uses 1024; this one is the common 2048). */
export const SIMILARITY_BITS = 2048;
/** Bytes of one packed fingerprint. */
export const SIMILARITY_BYTES = SIMILARITY_BITS / 8;
/** RDKit's options for it. */
export const SIMILARITY_FP = JSON.stringify({ radius: 2, nBits: SIMILARITY_BITS });

/**
 * RDKit's Morgan fingerprint (radius 2, 2048 bits) of a SMILES, packed (256 bytes), or null
 * when RDKit cannot parse it.
 *
 * @example const fp = await morganFingerprint('CCO'); // Uint8Array(256)
 */
export async function morganFingerprint(smiles: string): Promise<Uint8Array | null> {
  if (smiles.trim() === '') return null;
  const RD = await rdkit();
  const mol = RD.get_mol(smiles);
  if (!mol) return null;
  try {
    if (!mol.is_valid()) return null;
    const fp = mol.get_morgan_fp_as_uint8array(SIMILARITY_FP) as Uint8Array;
    if (fp.length !== SIMILARITY_BYTES)
      throw new GraftError(`RDKit gave a Morgan fingerprint of ${fp.length} bytes, expected ${SIMILARITY_BYTES}`);
    return Uint8Array.from(fp);
  } finally {
    mol.delete();
  }
}

/** A featurized molecule's fingerprint (kept from its parse), or its SMILES parsed again for one. */
export async function fingerprintOf(g: { similarity?: Uint8Array }, smiles: string): Promise<Uint8Array | null> {
  return g.similarity ?? morganFingerprint(smiles);
}

/** Molecules' fingerprints one after another ([n, 256] bytes; zeros for one RDKit cannot parse). */
export async function packedFingerprints(
  molecules: readonly { graph: { similarity?: Uint8Array }; smiles: string }[],
): Promise<Uint8Array> {
  const packed = new Uint8Array(molecules.length * SIMILARITY_BYTES);
  for (const [i, m] of molecules.entries()) {
    const fp = await fingerprintOf(m.graph, m.smiles);
    if (fp) packed.set(fp, i * SIMILARITY_BYTES);
  }
  return packed;
}

const BITS_OF_BYTE = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let x = b; x; x &= x - 1) c++;
  return c;
});

/** Tanimoto similarity |a ∧ b| / |a ∨ b| of two packed fingerprints (1 for two empty ones). */
export function tanimoto(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new GraftError(`tanimoto: fingerprints of ${a.length} and ${b.length} bytes`);
  let both = 0,
    either = 0;
  for (let i = 0; i < a.length; i++) {
    both += BITS_OF_BYTE[a[i]! & b[i]!]!;
    either += BITS_OF_BYTE[a[i]! | b[i]!]!;
  }
  return either === 0 ? 1 : both / either;
}

const BITS_OF_HALF = Uint8Array.from({ length: 65536 }, (_, h) => BITS_OF_BYTE[h & 255]! + BITS_OF_BYTE[h >>> 8]!);
const popcount32 = (w: number): number => BITS_OF_HALF[w & 0xffff]! + BITS_OF_HALF[w >>> 16]!;

/**
 * Reference fingerprints (a model's training molecules) to compare new molecules against:
 * the largest Tanimoto similarity of a query to any of them. Words of 32 bits and each
 * reference's bit count kept, so a query costs one AND-popcount pass per reference.
 *
 * @example new FingerprintSet(train.packed).maxSimilarity(fp) // 1 for a training molecule
 */
export class FingerprintSet {
  readonly size: number;
  private readonly words: Uint32Array;
  private readonly counts: Uint32Array;

  constructor(packed: Uint8Array) {
    if (packed.length % SIMILARITY_BYTES !== 0)
      throw new GraftError(`FingerprintSet: ${packed.length} bytes are not whole fingerprints of ${SIMILARITY_BYTES}`);
    this.size = packed.length / SIMILARITY_BYTES;
    this.words = new Uint32Array(Uint8Array.from(packed).buffer); // a copy: aligned whatever the source's offset
    this.counts = new Uint32Array(this.size);
    const W = SIMILARITY_BYTES / 4;
    for (let m = 0; m < this.size; m++) {
      let c = 0;
      for (let i = 0; i < W; i++) c += popcount32(this.words[m * W + i]!);
      this.counts[m] = c;
    }
  }

  /** The largest Tanimoto similarity of `query` (packed) to the set; NaN for an empty set. */
  maxSimilarity(query: Uint8Array): number {
    if (query.length !== SIMILARITY_BYTES)
      throw new GraftError(
        `FingerprintSet.maxSimilarity: a fingerprint of ${query.length} bytes, expected ${SIMILARITY_BYTES}`,
      );
    const W = SIMILARITY_BYTES / 4,
      q = new Uint32Array(Uint8Array.from(query).buffer);
    let qBits = 0;
    for (let i = 0; i < W; i++) qBits += popcount32(q[i]!);
    let best = NaN;
    for (let m = 0, o = 0; m < this.size; m++, o += W) {
      let both = 0;
      for (let i = 0; i < W; i++) both += popcount32((q[i]! & this.words[o + i]!) >>> 0);
      // |a ∨ b| = |a| + |b| − |a ∧ b|.
      const either = qBits + this.counts[m]! - both;
      const s = either === 0 ? 1 : both / either;
      if (!(s <= best)) best = s;
    }
    return best;
  }
}
