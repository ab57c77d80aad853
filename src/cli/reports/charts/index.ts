// Every chart kind in one module, for commands to load when they draw: `await import()` of this
// module is the only way a command reaches vega (about 0.4 s to load), so commands that draw
// nothing (and `graft --help`) never load it.
export { chart, renderSvg, writeChart, type Chart, type ChartSpec } from './render.js';
export {
  barChartSpec,
  heatMapSpec,
  lineChartSpec,
  scatterChartSpec,
  type Bar,
  type PointSeries,
  type Series,
} from './basic.js';
export { egoSpec, treeDiagramSpec, type DrawnNode, type EgoOptions } from './diagrams.js';
export { manhattanSpec, type ManhattanOptions } from './manhattan.js';
export { beeswarmSpec, type SwarmFeature } from './beeswarm.js';
