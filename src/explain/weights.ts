// The explainers rebuild a run's model and load the weights its run reports, through the one
// rule and loader every reader uses (nn/load-weights.ts).
export { loadWeights, reportedWeights } from '../nn/load-weights.js';
