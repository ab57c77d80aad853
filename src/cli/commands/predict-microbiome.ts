import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { DataError } from '../../data/csv.js';
import { readCounts } from '../../microbiome/data.js';
import { alignTaxa, loadKeptModel, scoreKeptBnn, scoreKeptModel } from '../../microbiome/kept-model.js';
import { Runtime } from '../../runtime/runtime.js';
import { readRunJson } from '../run-kind.js';

// `graft predict` on a `graft mb` run: the model kept by --keep-model scores new samples'
// raw counts. Taxa are matched by name; every sample is preprocessed on its own with the
// parameters fitted on the run's samples (and a GCN's sample joins the training graph on its
// own), so a sample's scores do not depend on the others.

export const PREDICT_MICROBIOME_USAGE = `  graft predict --run MB_RUN --counts FILE [--transpose] [--out FILE] [--quiet]
                (an mb run kept with graft mb --keep-model; writes id,predicted,p_<class>... or id,prediction;
                 a kept bnn adds predictive_sd: each sample's sd across the posterior samples, as graft mb reports it)`;

const csvCell = (s: string): string => (/[",\n]/.test(s) ? JSON.stringify(s) : s);
const some = (names: string[]): string =>
  names
    .slice(0, 5)
    .map((s) => JSON.stringify(s))
    .join(', ') + (names.length > 5 ? `, … (${names.length - 5} more)` : '');

export async function predictMicrobiomeRun(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      run: { type: 'string' },
      counts: { type: 'string' },
      transpose: { type: 'boolean' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const dir = resolve(v.run!);
  if (!v.counts)
    throw new GraftError(
      "--counts FILE is required: the new samples' raw counts (samples × taxa, or taxa × samples with --transpose)",
    );
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft predict: ${s}`);
  const resultsFile = join(dir, 'results.json');
  const results = readRunJson<{ kept_model?: { file?: unknown; model?: unknown } }>(resultsFile);
  if (!results.kept_model || typeof results.kept_model.file !== 'string') {
    throw new GraftError(
      `${dir}: this microbiome run kept no model (no kept_model in ${resultsFile}); run graft mb again with --keep-model to keep one`,
    );
  }
  const k = loadKeptModel(join(dir, results.kept_model.file));
  const c = readCounts(v.counts, v.transpose === true);
  const seen = new Map<string, number>();
  c.taxa.forEach((t, j) => {
    const first = seen.get(t);
    if (first !== undefined)
      throw new DataError(
        v.counts!,
        v.transpose ? first + 2 : 1,
        `taxon ${JSON.stringify(t)} appears twice${v.transpose ? ` (lines ${first + 2} and ${j + 2})` : ` (columns ${first + 2} and ${j + 2})`}`,
      );
    seen.set(t, j);
  });
  const n = c.ids.length,
    p = k.taxa.length;
  const { counts, absent, unknown } = alignTaxa(k.taxa, c.taxa, c.values, n);
  if (absent.length === p)
    throw new GraftError(
      `${v.counts}: none of the model's ${p} taxa is in the file (its taxa are e.g. ${some(k.taxa)}; the file's ${some(c.taxa)}): taxa are matched by name`,
    );
  log(`${n} samples; ${p - absent.length} of the model's ${p} taxa found`);
  if (absent.length)
    log(
      `${absent.length} of the model's taxa ${absent.length === 1 ? 'is' : 'are'} absent from ${v.counts} and count${absent.length === 1 ? 's' : ''} 0: ${some(absent)}`,
    );
  if (unknown.length)
    log(
      `${unknown.length} ${unknown.length === 1 ? 'taxon' : 'taxa'} of ${v.counts} ${unknown.length === 1 ? 'is' : 'are'} not in the model and dropped: ${some(unknown)}`,
    );
  // More than half of what the model reads missing is data the model was not trained on.
  if (absent.length * 2 > p)
    log(`warning: over half of the model's taxa are absent; these scores rest on ${p - absent.length} taxa`);
  const depth = k.preprocessing.rarefyDepth;
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = 0; j < p; j++) total += counts[i * p + j]!;
    if (!(total > 0))
      throw new DataError(
        v.counts,
        c.lineOf(i),
        `sample ${JSON.stringify(c.ids[i])} has no reads in the model's ${p} taxa`,
      );
    if (depth !== undefined && total < depth)
      throw new DataError(
        v.counts,
        c.lineOf(i),
        `sample ${JSON.stringify(c.ids[i])} has ${total} reads in the model's taxa, fewer than the depth ${depth} the model rarefies to`,
      );
    if (depth !== undefined)
      for (let j = 0; j < p; j++)
        if (!Number.isInteger(counts[i * p + j]!))
          throw new DataError(
            v.counts,
            c.lineOf(i),
            `sample ${JSON.stringify(c.ids[i])}: the model rarefies reads, and a count of ${counts[i * p + j]} is not a whole number`,
          );
  }
  if (k.join)
    log(
      `gcn: each sample joins the model's graph of ${k.join.profiles.length / p} training rows alone, linked to its ${k.join.knn} nearest by ${k.join.distance} distance`,
    );
  // One engine thread: the networks are small, and their scores are the same bits on any count.
  const rt = await Runtime.create({ threads: 1 });
  let scores: Float64Array;
  let sd: Float64Array | null = null;
  try {
    if (k.model.model === 'bnn') ({ scores, sd } = await scoreKeptBnn(rt, k, counts, n));
    else scores = await scoreKeptModel(rt, k, counts, n);
  } finally {
    await rt.close();
  }
  const cls = k.task === 'classification',
    K = k.classNames.length;
  // Full precision (the shortest text that reads back as the same double), so a score can be compared bit for bit.
  // A BNN's predictive_sd: of the value, or of the second class's probability (graft mb's column).
  const sdHead = sd ? ',predictive_sd' : '';
  const sdCell = (i: number): string => (sd ? `,${String(sd[i]!)}` : '');
  const lines = [
    (cls ? ['id', 'predicted', ...k.classNames.map((s) => `p_${s}`)].map(csvCell).join(',') : 'id,prediction') + sdHead,
  ];
  for (let i = 0; i < n; i++) {
    if (!cls) {
      lines.push(`${csvCell(c.ids[i]!)},${String(scores[i]!)}${sdCell(i)}`);
      continue;
    }
    const row = scores.subarray(i * K, i * K + K);
    let best = 0;
    for (let j = 1; j < K; j++) if (row[j]! > row[best]!) best = j;
    lines.push([csvCell(c.ids[i]!), csvCell(k.classNames[best]!), ...Array.from(row, String)].join(',') + sdCell(i));
  }
  const text = `${lines.join('\n')}\n`;
  if (v.out) {
    writeFileAtomic(resolve(v.out), text);
    log(`wrote ${n} predictions of ${k.model.model} to ${v.out}`);
  } else process.stdout.write(text);
}
