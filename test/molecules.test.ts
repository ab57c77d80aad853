import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { ATOM_FEATURES, ELEMENTS, smilesToGraph, toSample } from '../src/chem/featurize.js';
import { imbalanceStats, lpRos, mlRos, mlSmote, withSynthetic } from '../src/chem/imbalance.js';
import { scaffoldKey, scaffoldSplit } from '../src/chem/split.js';
import { MOLECULE_DEFAULTS, trainMoleculeTask } from '../src/chem/train-molecules.js';
import { packageRoot } from '../src/core/paths.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GraphTrainer } from '../src/train/graph-trainer.js';
import { chooseThresholds, meanRocAuc, multilabelReport, prAuc, rocAuc } from '../src/train/multilabel-metrics.js';
import { SMILES } from './fixtures.js';
import { bitsEqual, rng, sharedData, tempDir } from './helpers.js';

const dir = tempDir('graft-mol-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

// A small multi-label set: 24 drug-like SMILES (test/fixtures.ts), 3 labels with a rare one and a missing cell.
const csv = (rows: string[]): string => `${['smiles,common,mid,rare', ...rows].join('\n')}\n`;
const labelRows = SMILES.map((s, i) => `${s},1,${i % 2},${i % 8 === 0 ? 1 : i === 5 ? '' : 0}`);

describe('SMILES to graph (RDKit)', () => {
  it('benzoic acid: atoms, bonds, aromaticity, hybridization, rings, hydrogens', async () => {
    const g = (await smilesToGraph('c1ccccc1C(=O)O'))!;
    expect(g.atoms).toBe(9);
    expect(g.src.length).toBe(9);
    expect(ATOM_FEATURES).toBe(48);
    const row = (i: number): Float32Array => g.x.subarray(i * ATOM_FEATURES, (i + 1) * ATOM_FEATURES);
    const E = ELEMENTS.length + 1;
    const at = { deg: E, chg: E + 6, arom: E + 11, hyb: E + 12, hs: E + 16, ring: E + 21 };
    // Atom 0: aromatic CH, degree 2, sp2, one H, in a ring.
    expect(row(0)[ELEMENTS.indexOf('C')]).toBe(1);
    expect([row(0)[at.deg + 2], row(0)[at.arom], row(0)[at.hyb + 1], row(0)[at.hs + 1], row(0)[at.ring]]).toEqual([
      1, 1, 1, 1, 1,
    ]);
    // Atom 7: carbonyl O (sp2, no H, not in a ring); atom 8: hydroxyl O (sp3, one H).
    expect([row(7)[ELEMENTS.indexOf('O')], row(7)[at.hyb + 1], row(7)[at.hs], row(7)[at.ring]]).toEqual([1, 1, 1, 0]);
    expect([row(8)[at.hyb + 2], row(8)[at.hs + 1], row(8)[at.chg + 2]]).toEqual([1, 1, 1]);
    expect(g.x.reduce((a, b) => a + b, 0)).toBe(
      9 * 5 + g.inRing.reduce((a, b) => a + b, 0) + g.aromatic.reduce((a, b) => a + b, 0),
    );
    expect(Array.from(g.w).sort()).toEqual([1, 1, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2]);
    expect(g.morgan.reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
  });

  it('a one-atom molecule with no bonds is a valid graph (self loop only) and trains; unparsable SMILES give null', async () => {
    const water = (await smilesToGraph('O'))!;
    expect(water.atoms).toBe(1);
    expect(water.src.length).toBe(0);
    expect(await smilesToGraph('C1CC(')).toBeNull();
    expect(await smilesToGraph('')).toBeNull();
    const rt = await Runtime.create({ threads: 1 });
    const tr = new GraphTrainer(rt, ATOM_FEATURES, 1, { ...MOLECULE_DEFAULTS, task: 'multilabel', epochs: 2 });
    await tr.fit(
      [toSample(water, Float32Array.of(1), false), toSample((await smilesToGraph('CCO'))!, Float32Array.of(0), false)],
      [],
    );
    expect(Number.isFinite((await tr.predict([toSample(water, Float32Array.of(1), false)]))[0]!)).toBe(true);
    tr.dispose();
    await rt.close();
  });

  it('caches featurized graphs by file hash: the second load reads the cache and gets the same graphs', async () => {
    const f = put('cache.csv', csv(labelRows));
    const cacheDir = join(dir, 'cache');
    const a = await loadMoleculeCsv(f, { targets: 'all', task: 'multilabel', cacheDir });
    const b = await loadMoleculeCsv(f, { targets: 'all', task: 'multilabel', cacheDir });
    expect(a.fromCache).toBe(false);
    expect(b.fromCache).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(1);
    expect(
      b.graphs.map((g) => [g.atoms, Array.from(g.x), Array.from(g.src), Array.from(g.w), Array.from(g.morgan)]),
    ).toEqual(
      a.graphs.map((g) => [g.atoms, Array.from(g.x), Array.from(g.src), Array.from(g.w), Array.from(g.morgan)]),
    );
    expect(Array.from(b.y.subarray(15, 18))).toEqual([1, 1, NaN]);
  });
});

describe('bad molecule input: clear errors naming file and line', () => {
  it('invalid SMILES: skipped and reported by row, or an error with --invalid fail', async () => {
    const f = put('bad.csv', csv([labelRows[0]!, 'C1CC(,1,0,0', labelRows[1]!]));
    const ds = await loadMoleculeCsv(f, { targets: 'all', task: 'multilabel', cacheDir: null });
    expect(ds.graphs).toHaveLength(2);
    expect(ds.invalid).toEqual([{ line: 3, smiles: 'C1CC(' }]);
    await expect(
      loadMoleculeCsv(f, { targets: 'all', task: 'multilabel', cacheDir: null, invalid: 'fail' }),
    ).rejects.toThrow(/bad\.csv:3: invalid SMILES "C1CC\("/);
  });

  it('an empty SMILES column, a label other than 0/1/empty, a label column all missing, an unknown column', async () => {
    await expect(
      loadMoleculeCsv(put('e.csv', 'smiles,a\n,1\n,0\n'), { targets: 'all', task: 'multilabel', cacheDir: null }),
    ).rejects.toThrow(/e\.csv: the SMILES column 'smiles' is empty in every row/);
    await expect(
      loadMoleculeCsv(put('l.csv', 'smiles,a\nCCO,1\nCC,2\n'), { targets: 'all', task: 'multilabel', cacheDir: null }),
    ).rejects.toThrow(/l\.csv:3: label 'a' is "2"; expected 0, 1 or empty/);
    await expect(
      loadMoleculeCsv(put('m.csv', 'smiles,a,b\nCCO,1,\nCC,0,\n'), {
        targets: 'all',
        task: 'multilabel',
        cacheDir: null,
      }),
    ).rejects.toThrow(/m\.csv: label column 'b' is missing \(empty\) in every row/);
    await expect(
      loadMoleculeCsv(put('u.csv', 'smiles,a\nCCO,1\n'), { targets: ['zz'], task: 'multilabel', cacheDir: null }),
    ).rejects.toThrow(/u\.csv:1: no target column 'zz'/);
    await expect(
      loadMoleculeCsv(put('s.csv', 'mol,a\nCCO,1\n'), { targets: 'all', task: 'multilabel', cacheDir: null }),
    ).rejects.toThrow(/s\.csv:1: no SMILES column/);
  });
});

describe('scaffolds and splits', () => {
  it('the Murcko framework ignores side chains and keeps ring systems and linkers', async () => {
    const key = async (s: string): Promise<string> => scaffoldKey((await smilesToGraph(s))!);
    expect(await key('c1ccccc1CCO')).toBe(await key('Cc1ccccc1'));
    expect(await key('c1ccccc1')).toBe(await key('Oc1ccccc1C(=O)N'));
    expect(await key('c1ccccc1Cc1ccccc1')).not.toBe(await key('c1ccccc1CCc1ccccc1'));
    expect(await key('c1ccccc1')).not.toBe(await key('C1CCCCC1'));
    expect(await key('CCCCO')).toBe('');
  });

  it('scaffold split shares no framework between train, validation and test', async () => {
    const graphs = (await Promise.all(SMILES.map(smilesToGraph))).map((g) => g!);
    const s = scaffoldSplit(graphs, 3);
    expect([...s.train, ...s.val, ...s.test].sort((a, b) => a - b)).toEqual(graphs.map((_, i) => i));
    const keys = (idx: number[]): Set<string> => new Set(idx.map((i) => scaffoldKey(graphs[i]!)));
    const tr = keys(s.train);
    for (const k of keys(s.test)) expect(tr.has(k)).toBe(false);
    for (const k of keys(s.val)) expect(tr.has(k)).toBe(false);
  });
});

describe('multi-label metrics (oracle: definitions by brute force)', () => {
  const r = rng(11);
  const n = 60;
  const score = Float32Array.from({ length: n }, () => Math.round(r() * 20) / 20); // ties on purpose
  const truth = Float32Array.from(score, (s, i) => (i % 13 === 0 ? NaN : r() < s ? 1 : 0));

  it('ROC-AUC is P(score of a positive > score of a negative) + ½ P(tie)', () => {
    let num = 0,
      den = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (truth[i] !== 1 || truth[j] !== 0) continue;
        den++;
        num += score[i]! > score[j]! ? 1 : score[i] === score[j] ? 0.5 : 0;
      }
    expect(rocAuc(truth, score)).toBeCloseTo(num / den, 12);
    expect(
      rocAuc(
        Float32Array.from(truth, (t) => (Number.isNaN(t) ? t : 1)),
        score,
      ),
    ).toBeNaN();
  });

  it("meanRocAuc is the report's mean ROC-AUC over labels", () => {
    const L = 3,
      prob = Float32Array.from({ length: n * L }, (_, i) => (score[Math.floor(i / L)]! * (1 + (i % L))) / 3);
    const y = Float32Array.from({ length: n * L }, (_, i) => (i % L === 2 ? 0 : truth[Math.floor(i / L)]!)); // label 2: one class only
    const rep = multilabelReport(y, prob, ['a', 'b', 'c'], new Float32Array(L).fill(0.5));
    expect(rep.perLabel[2]!.roc_auc).toBeNaN();
    expect(meanRocAuc(y, prob, L)).toBe(rep.roc_auc);
    expect(rep.roc_auc).toBe((rep.perLabel[0]!.roc_auc + rep.perLabel[1]!.roc_auc) / 2);
  });

  it('PR-AUC is the average precision: Σ over thresholds of Δrecall · precision', () => {
    const th = [...new Set(Array.from(score))].sort((a, b) => b - a);
    const pos = Array.from(truth).filter((t) => t === 1).length;
    let ap = 0,
      prev = 0;
    for (const t of th) {
      let tp = 0,
        fp = 0;
      for (let i = 0; i < n; i++)
        if (!Number.isNaN(truth[i]!) && score[i]! >= t) {
          if (truth[i] === 1) tp++;
          else fp++;
        }
      ap += (tp / pos - prev) * (tp / (tp + fp));
      prev = tp / pos;
    }
    expect(prAuc(truth, score)).toBeCloseTo(ap, 12);
  });

  it('F1 averages: micro from pooled counts, macro unweighted, weighted by support; thresholds maximize validation F1', () => {
    const prob = Float32Array.of(0.9, 0.2, 0.8, 0.6, 0.3, 0.1, 0.4, 0.7);
    const y = Float32Array.of(1, 0, 1, 1, 0, NaN, 1, 1);
    const rep = multilabelReport(y, prob, ['a', 'b'], Float32Array.of(0.5, 0.5));
    // a: rows 0..3 → p 0.9,0.8,0.3,0.4 vs 1,1,0,1: tp 2, fp 0, fn 1. b: 0.2,0.6,0.1,0.7 vs 0,1,NaN,1: tp 2.
    expect(rep.perLabel[0]).toMatchObject({ precision: 1, recall: 2 / 3, support: 3 });
    expect(rep.perLabel[1]).toMatchObject({ precision: 1, recall: 1, support: 2 });
    expect(rep.f1.micro).toBeCloseTo((2 * 1 * 0.8) / 1.8, 12);
    expect(rep.f1.macro).toBeCloseTo((0.8 + 1) / 2, 12);
    expect(rep.f1.weighted).toBeCloseTo((0.8 * 3 + 1 * 2) / 5, 12);
    const th = chooseThresholds(y, prob, 2);
    expect(th[0]!).toBeLessThan(0.4); // including the 0.4 positive gives F1 = 1
    expect(multilabelReport(y, prob, ['a', 'b'], th).f1.macro).toBe(1);
  });
});

describe('imbalance measures and oversamplers', () => {
  // 4 labels: label 0 in every row, label 3 rare and always with label 0.
  const L = 4,
    n = 40;
  const y = new Float32Array(n * L);
  for (let i = 0; i < n; i++) {
    y[i * L] = 1;
    y[i * L + 1] = i % 2;
    y[i * L + 2] = i % 4 === 0 ? 1 : 0;
    y[i * L + 3] = i % 10 === 0 ? 1 : 0;
  }

  it('IRLbl, MeanIR and SCUMBLE match hand values', () => {
    const s = imbalanceStats(y, L);
    expect(s.positives).toEqual([40, 20, 10, 4]);
    expect(s.irlbl).toEqual([1, 2, 4, 10]);
    expect(s.meanIR).toBe(17 / 4);
    // Rows with labels {0,1,2,3}: i ≡ 0 mod 20 (2 rows); {0,1,2} i%4==0 minus those (8); {0,1} (10); {0,2,3}: i%10==0 & i%4!=0 → i=10,30 (2): but 10%2 = 0 so {0,1,3}.
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const ir = [0, 1, 2, 3].filter((t) => y[i * L + t] === 1).map((t) => s.irlbl[t]!);
      if (ir.length < 2) continue;
      const mean = ir.reduce((a, b) => a + b, 0) / ir.length,
        geo = ir.reduce((a, b) => a * b, 1) ** (1 / ir.length);
      expected += 1 - geo / mean;
    }
    expect(s.scumble).toBeCloseTo(expected / n, 12);
  });

  it('ML-ROS clones minority carriers; LP-ROS lowers MeanIR further for the same budget without adding majority labels', () => {
    const before = imbalanceStats(y, L);
    const ros = mlRos(y, L, 0.5, 1),
      lp = lpRos(y, L, 0.5, 1);
    expect(ros.length).toBeGreaterThan(0);
    expect(lp.length).toBeLessThanOrEqual(ros.length);
    for (const s of ros) expect(Array.from(s.y)).toEqual(Array.from(y.subarray(s.source * L, (s.source + 1) * L)));
    for (const s of lp) {
      expect(s.y[0]).toBeNaN();
      expect(s.y[3]).toBe(y[s.source * L + 3]);
    }
    const afterRos = imbalanceStats(withSynthetic(y, L, ros), L),
      afterLp = imbalanceStats(withSynthetic(y, L, lp), L);
    expect(afterRos.meanIR).toBeLessThan(before.meanIR);
    // Per clone, LP-ROS buys more: its copies add no count to the frequent labels.
    expect((before.meanIR - afterLp.meanIR) / lp.length).toBeGreaterThan(
      (before.meanIR - afterRos.meanIR) / ros.length,
    );
    expect(afterRos.positives[0]).toBeGreaterThan(40);
    expect(afterLp.positives[0]).toBe(40);
  });

  it('MLSMOTE interpolates descriptors between a carrier and a neighbour and labels by majority', () => {
    const desc = Array.from({ length: n }, (_, i) => Float32Array.of(i, i % 3));
    const out = mlSmote(y, L, desc, 3, 2);
    expect(out.length).toBeGreaterThan(0);
    for (const s of out) {
      expect(s.y[3] === 1 || s.y[2] === 1).toBe(true);
      const d = s.descriptors!;
      expect(d[0]!).toBeGreaterThanOrEqual(Math.min(...desc.map((x) => x[0]!)));
      expect(s.y[0]).toBe(1); // every neighbour has label 0
    }
  });
});

describe('molecule training', () => {
  it('batch splitting: 1, 2 and 4 threads end with bitwise-identical weights (GCN and hybrid)', async () => {
    const ds = await loadMoleculeCsv(put('det.csv', csv(labelRows)), {
      targets: 'all',
      task: 'multilabel',
      cacheDir: null,
    });
    const samples = ds.graphs.map((g, i) => toSample(g, ds.y.slice(i * 3, i * 3 + 3), true));
    for (const hybrid of [false, true]) {
      const weights: Float32Array[][] = [];
      for (const threads of [1, 2, 4]) {
        const rt = await Runtime.create({ threads });
        const tr = new GraphTrainer(rt, ATOM_FEATURES, 3, {
          ...MOLECULE_DEFAULTS,
          task: 'multilabel',
          epochs: 3,
          batchSize: 12,
          shardSize: 3,
          dropout: 0.2,
          ...(hybrid ? { hybrid: { descriptors: 1024, denseHidden: 8 } } : {}),
        });
        await tr.fit(samples, []);
        weights.push(tr.master.params().map((p) => (p.value.data() as Float32Array).slice()));
        tr.dispose();
        await rt.close();
      }
      for (const w of weights.slice(1))
        w.forEach((x, i) => {
          expect(bitsEqual(x, weights[0]![i]!)).toBe(true);
        });
    }
  });

  it('graft train --task graph writes a run folder with test_roc_auc, test_f1_weighted and a per-label table', () => {
    const f = put('cli.csv', csv([...labelRows, ...labelRows.map((r) => r.replace(/^([^,]+)/, 'C$1'))]));
    const out = join(dir, 'run');
    const r = spawnSync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'train',
        '--task',
        'graph',
        '--data',
        f,
        '--targets',
        'common,mid,rare',
        '--oversample',
        'lpros',
        '--hybrid',
        '--epochs',
        '3',
        '--threads',
        '2',
        '--out',
        out,
        '--quiet',
        '--no-cache',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'checkpoint.safetensors',
      'config.json',
      'epochs.csv',
      'epochs.json',
      'invalid.csv',
      'labels.csv',
      'loss.svg',
      'loss.vl.json',
      'metrics.json',
      'metrics.svg',
      'metrics.vl.json',
      'predictions.csv',
      'train-fingerprints.safetensors',
    ]);
    // graft eval scores the graph run again from its checkpoint: the same test figures (it
    // failed on the missing checkpoint before graph runs wrote one).
    const ev = spawnSync(
      process.execPath,
      [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'eval', '--run', out, '--threads', '1'],
      { encoding: 'utf8' },
    );
    expect(ev.status, ev.stderr).toBe(0);
    const again = JSON.parse(ev.stdout) as Record<string, number>;
    const trained = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
    for (const k of ['test_roc_auc', 'test_pr_auc', 'test_f1_weighted', 'val_roc_auc'])
      expect(again[k], k).toBe(trained[k]);
    // graft predict reads graph runs (test/graph-predict.test.ts); on the run's test split it writes predictions.csv again.
    const pr = spawnSync(
      process.execPath,
      [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'predict', '--run', out, '--out', join(dir, 'again.csv')],
      { encoding: 'utf8' },
    );
    expect(pr.status, pr.stderr).toBe(0);
    expect(readFileSync(join(dir, 'again.csv'), 'utf8')).toBe(readFileSync(join(out, 'predictions.csv'), 'utf8'));
    expect(readFileSync(join(out, 'epochs.csv'), 'utf8').split('\n')[0]).toBe('epoch,train_loss,val_loss,val_score,ms'); // val_score: validation ROC-AUC
    // Prefixing 'C' breaks three SMILES (e.g. CO=C(O)…: a pentavalent O); they are skipped and listed by line.
    expect(readFileSync(join(out, 'invalid.csv'), 'utf8').trim().split('\n')).toEqual([
      'line,smiles',
      '33,"CO=C(O)CCC(=O)O"',
      '37,"CClC(Cl)Cl"',
      '49,"CFC(F)(F)c1ccccc1"',
    ]);
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>;
    expect(m['test_f1_weighted']).toBeGreaterThanOrEqual(0);
    expect('test_roc_auc' in m).toBe(true);
    expect(m['mean_ir_after']).toBeLessThan(m['mean_ir_before']!);
    expect(readFileSync(join(out, 'labels.csv'), 'utf8').split('\n')[0]).toBe(
      'label,roc_auc,pr_auc,precision,recall,f1,support,threshold',
    );
    const bad = spawnSync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'train',
        '--task',
        'graph',
        '--data',
        f,
        '--oversample',
        'magic',
        '--out',
        join(dir, 'bad'),
      ],
      { encoding: 'utf8' },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--oversample must be 'none', 'mlros', 'mlsmote' or 'lpros', got "magic"/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
    // A label column with no positive example passed silently: stderr and metrics.json say so.
    const zeros = put(
      'zeros.csv',
      `${['smiles,common,never', ...labelRows.map((r) => `${r.split(',')[0]},${r.split(',')[1]},0`)].join('\n')}\n`,
    );
    const z = spawnSync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'train',
        '--task',
        'graph',
        '--data',
        zeros,
        '--epochs',
        '1',
        '--out',
        join(dir, 'zeros'),
        '--quiet',
        '--no-cache',
      ],
      { encoding: 'utf8' },
    );
    expect(z.status, z.stderr).toBe(0);
    expect(z.stderr).toMatch(/warning: label 'never' has no positive example/);
    expect(
      (JSON.parse(readFileSync(join(dir, 'zeros', 'metrics.json'), 'utf8')) as { warnings: string[] }).warnings.some(
        (w) => /label 'never' has no positive/.test(w),
      ),
    ).toBe(true);
  });
});

const shared = sharedData();
const sider = shared ? join(shared, 'moleculenet', 'sider.csv') : undefined;
if (!sider || !existsSync(sider))
  console.warn('SKIPPED: SIDER test needs ../shared/data/moleculenet (absent in this clone)');

describe.skipIf(!sider || !existsSync(sider))(
  'published figures: SIDER (MoleculeNet GraphConv ROC-AUC ≈ 0.64, random split)',
  () => {
    it('the hybrid reaches a mean test ROC-AUC of at least 0.60 on a random split', async () => {
      const ds = await loadMoleculeCsv(sider!, {
        targets: 'all',
        task: 'multilabel',
        cacheDir: join(dir, 'sider-cache'),
      });
      expect(ds.targets).toHaveLength(27);
      const rt = await Runtime.create({ threads: 2 });
      try {
        const res = await trainMoleculeTask(rt, ds, {
          split: 'random',
          oversample: 'none',
          oversampleFraction: 0.25,
          hybrid: true,
          config: { ...MOLECULE_DEFAULTS, task: 'multilabel', epochs: 25 },
        });
        expect(res.metrics['test_roc_auc']).toBeGreaterThan(0.6);
        expect(res.metrics['test_roc_auc']).toBeLessThan(0.8);
      } finally {
        await rt.close();
      }
    }, 180_000);
  },
);
