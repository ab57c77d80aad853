import VCF from '@gmod/vcf';
import { DataError } from './csv.js';
import type { GenotypeMatrix } from './genotype-matrix.js';

const BASES = /^[ACGTacgt]$/;

/**
 * Genotypes from a VCF (text already gunzipped): GT becomes the alternate-allele dosage
 * (0/1/2, or 0/1 for haploid calls), '.' alleles missing. Multi-allelic and non-SNP records
 * (indels, symbolic or missing ALT) are skipped and counted. Parsing is @gmod/vcf's; a
 * record it rejects, or one without a GT field, is a DataError naming the line.
 */
export function readVcf(file: string, text: string): GenotypeMatrix {
  const lines = text.split('\n');
  const header: string[] = [];
  let li = 0;
  for (; li < lines.length; li++) {
    const l = lines[li]!.replace(/\r$/, '');
    if (!l.startsWith('#')) break;
    header.push(l);
  }
  if (header.length === 0 && lines.every((l) => l.trim() === '')) throw new DataError(file, 0, 'the file is empty');
  const chromLine = header[header.length - 1];
  if (!chromLine?.startsWith('#CHROM'))
    throw new DataError(file, li + 1, 'no #CHROM header line before the records (is this a VCF?)');
  let parser: VCF;
  try {
    parser = new VCF({ header: header.join('\n') });
  } catch (err) {
    throw new DataError(file, li, `bad VCF header: ${(err as Error).message}`);
  }
  const ids = parser.samples;
  const n = ids.length;
  if (n === 0) throw new DataError(file, li, 'the VCF has no sample columns');
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    if (seen.has(id))
      throw new DataError(
        file,
        li,
        `sample '${id}' appears twice in the #CHROM line (columns ${seen.get(id)! + 10} and ${i + 10})`,
      );
    seen.set(id, i);
  });
  const skipped = { multiallelic: 0, non_snp: 0 };
  const markers: string[] = [],
    chromosome: string[] = [],
    position: number[] = [],
    ref: string[] = [],
    altAllele: string[] = [];
  const cols: Float32Array[] = [];
  for (; li < lines.length; li++) {
    const raw = lines[li]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const lineNo = li + 1;
    let v: ReturnType<typeof parser.parseLine>;
    try {
      v = parser.parseLine(raw);
    } catch (err) {
      throw new DataError(file, lineNo, `unreadable VCF record: ${(err as Error).message}`);
    }
    const fields = raw.split('\t');
    if (fields.length !== 9 + n)
      throw new DataError(
        file,
        lineNo,
        `${fields.length} columns, but the header has ${9 + n} (8 fixed, FORMAT and ${n} samples)`,
      );
    const format = (v.FORMAT ?? '').split(':');
    const gtAt = format.indexOf('GT');
    if (gtAt < 0)
      throw new DataError(
        file,
        lineNo,
        `no GT field in FORMAT ${JSON.stringify(v.FORMAT ?? '')}: genotypes are needed`,
      );
    const alt = v.ALT;
    if (alt && alt.length > 1) {
      skipped.multiallelic++;
      continue;
    }
    if (!alt || !v.REF || !BASES.test(v.REF) || !BASES.test(alt[0]!)) {
      skipped.non_snp++;
      continue;
    }
    const col = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const gt = fields[9 + i]!.split(':')[gtAt] ?? '.';
      col[i] = dosageOf(gt, file, lineNo, ids[i]!);
    }
    cols.push(col);
    markers.push(v.ID?.[0] ?? `${v.CHROM}:${v.POS}`);
    chromosome.push(String(v.CHROM));
    position.push(Number(v.POS));
    ref.push(v.REF.toUpperCase());
    altAllele.push(alt[0]!.toUpperCase());
  }
  if (markers.length === 0) {
    throw new DataError(
      file,
      0,
      `no usable SNP records (${skipped.multiallelic} multi-allelic and ${skipped.non_snp} non-SNP skipped)`,
    );
  }
  const m = markers.length;
  const dosage = new Float32Array(n * m);
  for (let j = 0; j < m; j++) {
    const c = cols[j]!;
    for (let i = 0; i < n; i++) dosage[i * m + j] = c[i]!;
  }
  return { file, ids, markers, dosage, skipped, sites: { chromosome, position, ref, alt: altAllele } };
}

function dosageOf(gt: string, file: string, line: number, sample: string): number {
  let d = 0;
  for (const a of gt.split(/[/|]/)) {
    if (a === '.' || a === '') return NaN;
    if (a === '0') continue;
    if (a === '1') {
      d++;
      continue;
    }
    throw new DataError(file, line, `sample '${sample}': GT ${JSON.stringify(gt)} is not a biallelic call (0, 1 or .)`);
  }
  return d;
}
