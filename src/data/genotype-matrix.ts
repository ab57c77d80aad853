// The genotype matrix every reader returns (genotypes.ts: CSV/TSV matrices, vcf.ts: VCF), in a
// file of its own so the two readers share it without importing each other.

/**
 * Genotypes of n samples at m markers, sample-major: dosage[i*m + j] is sample i's count of
 * the coded allele at marker j (0, 1 or 2; 0/1 for presence/absence or inbred coding), NaN
 * where missing.
 */
export interface GenotypeMatrix {
  file: string;
  ids: string[];
  markers: string[];
  dosage: Float32Array;
  /** VCF records not used, by reason (empty for matrix files). */
  skipped: Record<string, number>;
  /** Where each marker sits (VCF: CHROM and POS) and its alleles (REF, and ALT, the counted one), by marker; absent for matrix files. */
  sites?: { chromosome: string[]; position: number[]; ref?: string[]; alt?: string[] };
}
