import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Rng } from '../core/random.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { ensureDir } from '../core/atomic-write.js';

/**
 * The shape of a synthetic genomic data set: samples, chromosomes, markers, founders, LD decay, subpopulations, QTL, missing rate and seed.
 */
export interface SyntheticGpOptions {
  samples?: number;
  chromosomes?: number;
  markersPerChromosome?: number;
  /** Founder haplotypes every sample's chromosomes are mosaics of. */
  founders?: number;
  /** Chance of switching founder between adjacent markers (sets how fast LD decays). */
  switchRate?: number;
  /** Subpopulations, each drawing mostly from its own share of the founders. */
  subpopulations?: number;
  qtl?: number;
  missingRate?: number;
  seed?: number;
}

/**
 * A synthetic genomic data set: sample ids, marker names and dosages (with and without missing values), traits and each sample's site.
 */
export interface SyntheticGp {
  ids: string[];
  markers: string[];
  /** [n, m] dosages 0/1/2, NaN where set missing. */
  dosage: Float32Array;
  /** [n, m] the same dosages before any were set missing (what the genetic values were computed from). */
  completeDosage: Float32Array;
  traits: SyntheticTrait[];
  site: string[];
}

/** A true QTL: its marker (index into `markers`) and its effect per allele on the scale of `genetic`. */
export interface SyntheticQtl {
  marker: number;
  effect: number;
}

/** One synthetic trait: its heritability, phenotypes, true genetic values and true QTL. */
export interface SyntheticTrait {
  name: string;
  h2: number;
  values: Float64Array;
  genetic: Float64Array;
  /**
   * The trait's QTL by marker index. genetic[i] = Σ_q effect_q · completeDosage[i, q] minus
   * that sum's mean over the samples: the effects carry the rescaling to variance h².
   */
  qtl: SyntheticQtl[];
}

/**
 * Genotypes with linkage disequilibrium and population structure, and polygenic traits of
 * known heritability: each sample carries two haplotypes per chromosome, each a mosaic of a
 * few founder haplotypes (switching founder with probability `switchRate` between adjacent
 * markers, so nearby markers are correlated and distant ones are not); subpopulations favour
 * their own founders. A trait is g + e with g = Σ β_q x_q over random QTL scaled to variance
 * h², and e ~ N(0, 1 − h²); the 'yield' trait also has a site effect (a covariate column).
 * The best possible r between a prediction and the phenotype is about sqrt(h²).
 */
export function syntheticGenomicData(o: SyntheticGpOptions = {}): SyntheticGp {
  const n = o.samples ?? 300,
    chrs = o.chromosomes ?? 5,
    per = o.markersPerChromosome ?? 300;
  const F = o.founders ?? 12,
    sw = o.switchRate ?? 0.02,
    pops = o.subpopulations ?? 3;
  const rng = new Rng(o.seed ?? 2026);
  const m = chrs * per;
  const freq = Float64Array.from({ length: m }, () => 0.1 + 0.8 * rng.next());
  const founder = new Uint8Array(F * m);
  for (let f = 0; f < F; f++) for (let j = 0; j < m; j++) founder[f * m + j] = rng.next() < freq[j]! ? 1 : 0;
  const pickFounder = (pop: number): number =>
    rng.next() < 0.8
      ? (pop * Math.floor(F / pops) + Math.floor(rng.next() * Math.floor(F / pops))) % F
      : Math.floor(rng.next() * F);
  const dosage = new Float32Array(n * m);
  const popOf = Int32Array.from({ length: n }, (_, i) => i % pops);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < 2; h++) {
      for (let c = 0; c < chrs; c++) {
        let f = pickFounder(popOf[i]!);
        for (let j = c * per; j < (c + 1) * per; j++) {
          if (j > c * per && rng.next() < sw) f = pickFounder(popOf[i]!);
          dosage[i * m + j]! += founder[f * m + j]!;
        }
      }
    }
  }
  const gauss = (): number => rng.normal();
  const site = Array.from({ length: n }, () => ['north', 'centre', 'south'][Math.floor(rng.next() * 3)]!);
  const siteEffect: Record<string, number> = { north: -0.5, centre: 0, south: 0.5 };
  const traits = [
    { name: 'yield', h2: 0.5 },
    { name: 'height', h2: 0.8 },
  ].map(({ name, h2 }) => {
    const q = o.qtl ?? 80;
    const loci = Array.from({ length: m }, (_, j) => j);
    rng.shuffle(loci);
    const genetic = new Float64Array(n);
    const raw: { marker: number; b: number }[] = [];
    for (const j of loci.slice(0, q)) {
      const b = gauss();
      raw.push({ marker: j, b });
      for (let i = 0; i < n; i++) genetic[i]! += b * dosage[i * m + j]!;
    }
    const mean = genetic.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(genetic.reduce((a, b) => a + (b - mean) ** 2, 0) / n) || 1;
    for (let i = 0; i < n; i++) genetic[i] = ((genetic[i]! - mean) / sd) * Math.sqrt(h2);
    const values = Float64Array.from(
      genetic,
      (g, i) => g + Math.sqrt(1 - h2) * gauss() + (name === 'yield' ? siteEffect[site[i]!]! : 0),
    );
    const qtl = raw
      .map(({ marker, b }) => ({ marker, effect: (b * Math.sqrt(h2)) / sd }))
      .sort((a, b) => a.marker - b.marker);
    return { name, h2, values, genetic, qtl };
  });
  const completeDosage = dosage.slice();
  const miss = o.missingRate ?? 0.01;
  for (let k = 0; k < dosage.length; k++) if (rng.next() < miss) dosage[k] = NaN;
  const ids = Array.from({ length: n }, (_, i) => `S${String(i + 1).padStart(4, '0')}`);
  const markers = Array.from({ length: m }, (_, j) => `c${Math.floor(j / per) + 1}_m${(j % per) + 1}`);
  return { ids, markers, dosage, completeDosage, traits, site };
}

/**
 * Writes genotypes.csv.gz, phenotypes.csv, truth.csv (the genetic values) and qtl.csv (each
 * trait's true QTL: trait, marker name, effect per allele on the genetic value's scale) into `dir`.
 */
export function writeSyntheticGenomicData(dir: string, d: SyntheticGp): void {
  ensureDir(dir);
  const m = d.markers.length;
  const geno = [`id,${d.markers.join(',')}`];
  d.ids.forEach((id, i) => {
    const row = [id];
    for (let j = 0; j < m; j++) {
      const v = d.dosage[i * m + j]!;
      row.push(Number.isNaN(v) ? 'NA' : String(v));
    }
    geno.push(row.join(','));
  });
  writeFileAtomic(join(dir, 'genotypes.csv.gz'), gzipSync(`${geno.join('\n')}\n`, { level: 9 }));
  writeFileAtomic(
    join(dir, 'phenotypes.csv'),
    `${[
      `id,site,${d.traits.map((t) => t.name).join(',')}`,
      ...d.ids.map((id, i) => [id, d.site[i], ...d.traits.map((t) => t.values[i]!.toFixed(5))].join(',')),
    ].join('\n')}\n`,
  );
  writeFileAtomic(
    join(dir, 'truth.csv'),
    `${[
      `id,${d.traits.map((t) => `${t.name}_genetic`).join(',')}`,
      ...d.ids.map((id, i) => [id, ...d.traits.map((t) => t.genetic[i]!.toFixed(5))].join(',')),
    ].join('\n')}\n`,
  );
  writeFileAtomic(
    join(dir, 'qtl.csv'),
    `${[
      'trait,marker,effect',
      ...d.traits.flatMap((t) =>
        [...t.qtl]
          .sort((a, b) => a.marker - b.marker)
          .map((q) => `${t.name},${d.markers[q.marker]},${q.effect.toFixed(6)}`),
      ),
    ].join('\n')}\n`,
  );
}
