#!/usr/bin/env node
import { GraftError } from '../core/errors.js';
import { bench, BENCH_USAGE } from './bench.js';
import { scaling, SCALING_USAGE } from './scaling.js';
import { demoCora } from './demo-cora.js';
import { EVAL_USAGE, fromRun } from './eval.js';
import { generateGp, gp, gpDemo, GP_USAGE } from './gp.js';
import { GRAPH_USAGE, trainGraphTask } from './train-graph.js';
import { mb, MB_USAGE } from './mb.js';
import { explain, EXPLAIN_USAGE, motifTask } from './explain.js';
import { soup, SOUP_USAGE } from './soup.js';
import { sweep, SWEEP_USAGE } from './sweep.js';
import { NODE_USAGE, trainNode } from './train.js';
import { exportModel, importModel, INTEROP_USAGE } from './interop.js';
import { quantize, QUANTIZE_USAGE } from './quantize.js';
import { predict, PREDICT_USAGE } from './predict.js';
import { prepare, PREPARE_USAGE } from './prepare.js';
import { value, VALUE_USAGE } from './value.js';

// The package's bin entry: one command per file beside this one; only the CLI prints.

const USAGE = `graft: graph convolutional networks on CPUs

Usage:
${NODE_USAGE}
${GRAPH_USAGE}
${EVAL_USAGE}
${PREDICT_USAGE}
${PREPARE_USAGE}
${INTEROP_USAGE}
${QUANTIZE_USAGE}
${GP_USAGE}
${MB_USAGE}
${EXPLAIN_USAGE}
${VALUE_USAGE}
${SOUP_USAGE}
${SWEEP_USAGE}
${BENCH_USAGE}
${SCALING_USAGE}
  graft demo [gp options]  (what npm start runs: genomic prediction on wheat, or the synthetic set)
  graft demo-cora          (the node-classification demo: Cora, or a planted-partition graph)

What a run folder holds, by kind:
  node run (graft train)          config.json, epochs.csv/json, metrics.json, loss.svg, loss.vl.json,
                                  metrics.svg, metrics.vl.json, predictions.csv, checkpoint(.prev).safetensors
  graph run (train --task graph)  config.json, epochs.csv/json, metrics.json, labels.csv, loss.svg,
                                  metrics.svg (each with its .vl.json), checkpoint(.prev).safetensors,
                                  invalid.csv (skipped SMILES)
  gp run (graft gp)               results.json, folds.csv, predictions.csv, report.md, pred-vs-obs and
                                  r-by-fold SVGs per trait, jobs/ (for --resume), models/ (--keep-models)
  mb run (graft mb)               results.json, folds.csv, predictions.csv, fold-metrics.csv, report.md,
                                  bar charts; with --grid grid.csv/json, grid-tree.svg, grid-heatmap.svg
  explain folder (RUN/explain)    explanations.json, plus markers-*.csv and Manhattan SVGs (gp), atoms.csv
                                  and molecule SVGs (graph), edges.csv, features.csv, neighbourhood SVGs (node),
                                  shap.csv, shap-summary.svg, summary.md (mb)
  value folder (RUN/value)        values.csv, removal.svg, summary.md, value.json (graft value)
  Each chart X.svg of train and explain has its Vega-Lite spec X.vl.json beside it: restyle it, or
  open it in the Vega editor, https://vega.github.io/editor`;

const COMMAND_USAGE: Record<string, string> = {
  train: `${NODE_USAGE}\n${GRAPH_USAGE}`,
  eval: EVAL_USAGE,
  predict: PREDICT_USAGE,
  gp: GP_USAGE,
  mb: MB_USAGE,
  explain: EXPLAIN_USAGE,
  value: VALUE_USAGE,
  soup: SOUP_USAGE,
  sweep: SWEEP_USAGE,
  'motif-task': EXPLAIN_USAGE,
  'generate-gp': GP_USAGE,
  bench: BENCH_USAGE,
  scaling: SCALING_USAGE,
  import: INTEROP_USAGE,
  export: INTEROP_USAGE,
  quantize: QUANTIZE_USAGE,
  prepare: PREPARE_USAGE,
};

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const [cmd, ...rest] = argv;
  const help = COMMAND_USAGE[cmd ?? ''];
  if (help !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    console.log(`Usage:\n${help}`);
    return 0;
  }
  try {
    switch (cmd) {
      case 'train': {
        const at = rest.indexOf('--task');
        const task = at >= 0 ? rest[at + 1] : rest.find((a) => a.startsWith('--task='))?.slice(7);
        if (task === 'graph') return await trainGraphTask(rest);
        else if (task === undefined || task === 'node')
          return await trainNode(
            rest.filter((a, i) => (at < 0 || (i !== at && i !== at + 1)) && !a.startsWith('--task=')),
          );
        else throw new GraftError(`--task must be 'node' or 'graph', got ${JSON.stringify(task)}`);
      }
      case 'eval':
        await fromRun(rest, 'eval');
        break;
      case 'predict':
        await predict(rest);
        break;
      case 'prepare':
        await prepare(rest);
        break;
      case 'import':
        await importModel(rest);
        break;
      case 'export':
        await exportModel(rest);
        break;
      case 'quantize':
        await quantize(rest);
        break;
      case 'gp':
        await gp(rest);
        break;
      case 'generate-gp':
        generateGp(rest);
        break;
      case 'mb':
        await mb(rest);
        break;
      case 'explain':
        await explain(rest);
        break;
      case 'value':
        await value(rest);
        break;
      case 'soup':
        return await soup(rest);
      case 'sweep':
        return await sweep(rest);
      case 'motif-task':
        await motifTask(rest);
        break;
      case 'bench':
        return await bench(rest);
      case 'scaling':
        await scaling(rest);
        break;
      case 'demo':
        await gpDemo(rest);
        break;
      case 'demo-cora':
        await demoCora();
        break;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 1 : 0;
      default:
        console.error(`graft: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
        return 1;
    }
    return 0;
  } catch (err) {
    const e = err as Error;
    const known =
      e instanceof GraftError ||
      e instanceof TypeError ||
      e instanceof RangeError ||
      (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    console.error(`graft ${cmd}: ${known ? e.message : (e.stack ?? e.message)}`);
    return 2;
  }
}

main().then((code) => {
  process.exitCode = code;
});
