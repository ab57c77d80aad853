#!/usr/bin/env node
import { GraftError } from '../core/errors.js';

// The package's bin entry: one command per file under commands/; only the CLI prints. Each
// command's module is imported when that command runs, so a command loads only what it uses:
// `graft --help` and the commands that draw no chart never load vega (about 0.4 s), which the
// chart drawers import on first use (reports/charts/index.ts).

/** The modules that export usage strings (NAME_USAGE), in the order `graft --help` lists them. */
const USAGE_MODULES = [
  () => import('./commands/train.js'),
  () => import('./commands/train-graph.js'),
  () => import('./commands/eval.js'),
  () => import('./commands/predict.js'),
  () => import('./commands/prepare.js'),
  () => import('./commands/interop.js'),
  () => import('./commands/quantize.js'),
  () => import('./commands/gp.js'),
  () => import('./commands/mb.js'),
  () => import('./commands/explain.js'),
  () => import('./commands/value.js'),
  () => import('./commands/soup.js'),
  () => import('./commands/sweep.js'),
  () => import('./commands/bench.js'),
  () => import('./commands/scaling.js'),
];

/** Every command's usage string by its exported name (NODE_USAGE, GP_USAGE, ...). */
async function usageStrings(): Promise<Record<string, string>> {
  const mods = await Promise.all(USAGE_MODULES.map((load) => load()));
  return Object.fromEntries(
    mods.flatMap((m) =>
      Object.entries(m).filter((e): e is [string, string] => e[0].endsWith('_USAGE') && typeof e[1] === 'string'),
    ),
  );
}

/** `graft --help`: every command's usage, then what each kind of run folder holds. */
function usage(u: Record<string, string>): string {
  return `graft: graph convolutional networks on CPUs

Usage:
${u['NODE_USAGE']}
${u['GRAPH_USAGE']}
${u['EVAL_USAGE']}
${u['PREDICT_USAGE']}
${u['PREPARE_USAGE']}
${u['INTEROP_USAGE']}
${u['QUANTIZE_USAGE']}
${u['GP_USAGE']}
${u['MB_USAGE']}
${u['EXPLAIN_USAGE']}
${u['VALUE_USAGE']}
${u['SOUP_USAGE']}
${u['SWEEP_USAGE']}
${u['BENCH_USAGE']}
${u['SCALING_USAGE']}
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
  Each chart X.svg (train, gp, mb, explain, value, scaling) has its Vega-Lite spec X.vl.json
  beside it: restyle it, or open it in the Vega editor, https://vega.github.io/editor`;
}

/** `graft COMMAND --help`: the usage strings that command prints. */
const COMMAND_USAGE: Record<string, string[]> = {
  train: ['NODE_USAGE', 'GRAPH_USAGE'],
  eval: ['EVAL_USAGE'],
  predict: ['PREDICT_USAGE'],
  gp: ['GP_USAGE'],
  mb: ['MB_USAGE'],
  explain: ['EXPLAIN_USAGE'],
  value: ['VALUE_USAGE'],
  soup: ['SOUP_USAGE'],
  sweep: ['SWEEP_USAGE'],
  'motif-task': ['EXPLAIN_USAGE'],
  'generate-gp': ['GP_USAGE'],
  bench: ['BENCH_USAGE'],
  scaling: ['SCALING_USAGE'],
  import: ['INTEROP_USAGE'],
  export: ['INTEROP_USAGE'],
  quantize: ['QUANTIZE_USAGE'],
  prepare: ['PREPARE_USAGE'],
};

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const [cmd, ...rest] = argv;
  const help = COMMAND_USAGE[cmd ?? ''];
  if (help !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    const u = await usageStrings();
    console.log(`Usage:\n${help.map((name) => u[name]).join('\n')}`);
    return 0;
  }
  try {
    switch (cmd) {
      case 'train': {
        const at = rest.indexOf('--task');
        const task = at >= 0 ? rest[at + 1] : rest.find((a) => a.startsWith('--task='))?.slice(7);
        if (task === 'graph') return await (await import('./commands/train-graph.js')).trainGraphTask(rest);
        else if (task === undefined || task === 'node')
          return await (await import('./commands/train.js')).trainNode(
            rest.filter((a, i) => (at < 0 || (i !== at && i !== at + 1)) && !a.startsWith('--task=')),
          );
        else throw new GraftError(`--task must be 'node' or 'graph', got ${JSON.stringify(task)}`);
      }
      case 'eval':
        await (await import('./commands/eval.js')).fromRun(rest, 'eval');
        break;
      case 'predict':
        await (await import('./commands/predict.js')).predict(rest);
        break;
      case 'prepare':
        await (await import('./commands/prepare.js')).prepare(rest);
        break;
      case 'import':
        await (await import('./commands/interop.js')).importModel(rest);
        break;
      case 'export':
        await (await import('./commands/interop.js')).exportModel(rest);
        break;
      case 'quantize':
        await (await import('./commands/quantize.js')).quantize(rest);
        break;
      case 'gp':
        await (await import('./commands/gp.js')).gp(rest);
        break;
      case 'generate-gp':
        (await import('./commands/gp.js')).generateGp(rest);
        break;
      case 'mb':
        await (await import('./commands/mb.js')).mb(rest);
        break;
      case 'explain':
        await (await import('./commands/explain.js')).explain(rest);
        break;
      case 'value':
        await (await import('./commands/value.js')).value(rest);
        break;
      case 'soup':
        return await (await import('./commands/soup.js')).soup(rest);
      case 'sweep':
        return await (await import('./commands/sweep.js')).sweep(rest);
      case 'motif-task':
        await (await import('./commands/explain.js')).motifTask(rest);
        break;
      case 'bench':
        return await (await import('./commands/bench.js')).bench(rest);
      case 'scaling':
        await (await import('./commands/scaling.js')).scaling(rest);
        break;
      case 'demo':
        await (await import('./commands/gp.js')).gpDemo(rest);
        break;
      case 'demo-cora':
        await (await import('./commands/demo-cora.js')).demoCora();
        break;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(usage(await usageStrings()));
        return cmd === undefined ? 1 : 0;
      default:
        console.error(`graft: unknown command ${JSON.stringify(cmd)}\n\n${usage(await usageStrings())}`);
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
