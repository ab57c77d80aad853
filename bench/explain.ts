// npm run bench:explain [-- --threads 1,2] [--data-dir ../shared/data]
// How long explanations take, one JSON line per case:
//   {"case":"ig-one-molecule","steps":50,"threads","ms"}          Tox21's first test molecule, one label
//   {"case":"ig-all-test-molecules","molecules","steps","threads","ms","ms_per_molecule"}
//   {"case":"ig-genomic-member","data":"wheat","samples","markers","steps","threads","ms"}
// Weights are the models' initial ones (the time does not depend on them); completeness
// refinement is off, so every case runs exactly `steps` path points.
import { join } from 'node:path';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { moleculeSplit } from '../src/chem/train-molecules.js';
import { MOLECULE_DEFAULTS } from '../src/chem/train-molecules.js';
import { sharedDataDir } from '../src/data/locate.js';
import { gcnNormArrays } from '../src/graph/gcn-norm.js';
import { Runtime } from '../src/runtime/runtime.js';
import { graphModel, type GraphTrainConfig } from '../src/train/graph-model.js';
import { gcnRegressorModel, GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { prepareStudy } from '../src/genomics/study-data.js';
import { attribute, identitySpace } from '../src/explain/attribution.js';
import { columnObjective, GraphProbe, probeGraph } from '../src/explain/graph-probe.js';
import { moleculeProbe } from '../src/explain/molecules.js';
import { markerSpace } from '../src/explain/marker-space.js';
import type { Tensor } from '../src/memory/tensor.js';
import { flag, measure, threadList } from './measure.js';
import { availableParallelism } from 'node:os';

const line = (o: object): void => console.log(JSON.stringify(o));
const STEPS = 50;

async function main(): Promise<void> {
  const dir = sharedDataDir(flag('data-dir'));
  if (!dir)
    throw new Error('bench:explain needs the shared data folder (../shared/data or --data-dir): Tox21 and wheat');
  const tox = await loadMoleculeCsv(join(dir, 'moleculenet', 'tox21.csv'), { targets: 'all', task: 'multilabel' });
  const config: GraphTrainConfig = { task: 'multilabel', ...MOLECULE_DEFAULTS };
  const { test } = moleculeSplit(tox, { split: 'random', hybrid: false, config });
  const F = tox.graphs[0]!.x.length / tox.graphs[0]!.atoms,
    T = tox.targets.length;
  for (const threads of threadList(availableParallelism())) {
    const rt = await Runtime.create({ threads });
    try {
      const init = graphModel(rt, F, T, config, () => {
        throw new Error('unused');
      });
      const spec = {
        config,
        features: F,
        targets: T,
        weights: new Map(init.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()])),
      };
      init.dispose();
      const ig = async (i: number): Promise<void> => {
        const g = test[i]!,
          probe = moleculeProbe(rt, spec, g);
        try {
          await attribute(probe, identitySpace(g.x, F), columnObjective({ kind: 'graph' }, 0, T), 'ig', {
            steps: STEPS,
            edges: true,
            tolerance: 0,
          });
        } finally {
          probe.dispose();
        }
      };
      const one = await measure(
        'ig-one-molecule',
        async () => {
          await ig(0);
        },
        20,
      );
      line({ case: 'ig-one-molecule', steps: STEPS, threads, ms: +one.ms.toFixed(3) });
      const t0 = performance.now();
      for (let i = 0; i < test.length; i++) await ig(i);
      const ms = performance.now() - t0;
      line({
        case: 'ig-all-test-molecules',
        molecules: test.length,
        steps: STEPS,
        threads,
        ms: +ms.toFixed(1),
        ms_per_molecule: +(ms / test.length).toFixed(3),
      });

      const w = join(dir, 'wheat_bglr');
      const { data, markers } = await prepareStudy(
        rt,
        {
          geno: join(w, 'wheat_X.csv'),
          pheno: join(w, 'wheat_Y.csv'),
          traits: ['env1'],
          features: 'markers',
          pcs: 50,
          graph: 'knn',
          knn: 5,
          threshold: 0,
        },
        () => {},
        { markers: true },
      );
      const space = await markerSpace(rt, data, markers!);
      const graph = probeGraph(data.n, gcnNormArrays(data.n, data.src, data.dst), data.src, data.dst);
      const probe = new GraphProbe(rt, graph, (gr) => ({
        model: gcnRegressorModel<Tensor[]>(rt, GCN_GP_DEFAULTS, { f: data.f }, gr, (i) => i),
        blocks: [data.f],
        extras: [],
      }));
      try {
        // An async function, so tinybench awaits it rather than calling it once more to see whether it is async (the probe is not reentrant).
        const g = await measure(
          'ig-genomic-member',
          async () => {
            await attribute(probe, space, columnObjective({ kind: 'all' }, 0, 1), 'ig', { steps: STEPS, tolerance: 0 });
          },
          3,
          0,
        );
        line({
          case: 'ig-genomic-member',
          data: 'wheat',
          samples: data.n,
          markers: markers!.clean.m,
          steps: STEPS,
          threads,
          ms: +g.ms.toFixed(1),
          passes: Math.ceil(STEPS / probe.chunk) + 1,
        });
      } finally {
        probe.dispose();
        space.dispose();
      }
    } finally {
      await rt.close();
    }
  }
}

await main();
