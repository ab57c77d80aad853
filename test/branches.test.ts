import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { runStudy, type StudyOptions } from '../src/genomics/study.js';

// The founding study's independent sections: the markers in k blocks, one GCN branch per
// block, forked and joined before the head (graft gp --branches k).
describe('GCN branches per marker block', () => {
  const base: StudyOptions = {
    geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
    pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
    traits: ['height'],
    features: 'markers',
    pcs: 0,
    graph: 'knn',
    knn: 5,
    threshold: 0,
    models: ['gcn'],
    k: 3,
    repeats: 1,
    seed: 1,
    threads: 1,
    gcn: { ...GCN_GP_DEFAULTS, ensemble: 1, epochs: 60, patience: 0 },
    branches: 3,
  };

  it('builds one feature block per marker block, learns the trait, and gives the same predictions on 1 and 2 threads', async () => {
    const one = await runStudy(base);
    const blocks = one.data.featureBlocks!;
    expect(blocks).toHaveLength(3);
    expect(blocks.reduce((a, b) => a + b, 0)).toBe(one.data.f);
    // Each block has more markers than the 300 samples: its full-rank scores, at most 300 columns.
    for (const b of blocks) expect(b).toBeLessThanOrEqual(one.data.n);
    expect(one.table['gcn']!['height']!.r_mean).toBeGreaterThan(0.3);
    const two = await runStudy({ ...base, threads: 2 });
    expect(two.predictions).toEqual(one.predictions);
  });

  it('refuses branches without markers to split', async () => {
    await expect(runStudy({ ...base, features: 'pcs', pcs: 10 })).rejects.toThrow(
      /GCN branches split the markers into blocks/,
    );
  });
});
