// Graft's public surface: one explicit list.
/**
 * The library: the runtime and its tensors, the kernels, layers and trainers, the genomic study, the
 * molecule tasks and the explainers (see docs/library.md). `graft-gnn/infer` is the one-thread inference bundle.
 * @module graft-gnn
 */
export { Runtime, type RuntimeOptions, type ForkOptions } from './runtime/runtime.js';
export type { Exec } from './runtime/exec.js';
export { Future } from './runtime/future.js';
export { Heap, type HeapOptions, type HeapStats } from './memory/heap.js';
export { Tensor, type DType } from './memory/tensor.js';
export { GraftError, WorkerError } from './core/errors.js';
export type { BackendKind } from './kernels/backend.js';
export { chooseBackend, engineSupports } from './kernels/wasm.js';
export { CsrMatrix } from './graph/csr.js';
export { sddmm, spmm, type SpmmOptions } from './ops/sparse.js';
export { matmul, type MatmulOptions } from './ops/linalg.js';
export {
  biasAdd,
  colSum,
  relu,
  reluBackward,
  scale,
  axpy,
  addInto,
  fill,
  copy,
  reduceInOrder,
} from './ops/elementwise.js';
export { dropout, dropoutBackward, dropoutKey, type DropoutResult } from './ops/dropout.js';
export { softmaxCrossEntropy, mseLoss, bceWithLogits, type LossResult, type LossOptions } from './ops/losses.js';
export { segmentPool, segmentPoolBackward, type PoolMode, type PoolResult } from './ops/pooling.js';
export { adamStep, sgdStep, type AdamHyper, type SgdHyper } from './ops/optim.js';
export { gcnNorm, type GcnNormOptions } from './graph/gcn-norm.js';
export { collate, type DirectedEdges, type GraphBatch, type GraphSample, type MessageSpec } from './graph/batch.js';
export {
  reverseCuthillMcKee,
  spmmNodeOrder,
  RCM_MIN_NODES,
  type NodeOrder,
  type NodeOrderChoice,
} from './graph/reorder.js';
export { GCNConv, Linear, ReLU, Dropout, GraphPool, type Propagation } from './nn/layers.js';
export type { Layer, Parameter, PassContext } from './nn/layer.js';
export { Sequential } from './nn/sequential.js';
export { Adam, type AdamOptions } from './train/adam.js';
export { Rng } from './core/random.js';
export {
  trainNodeClassifier,
  predictNodes,
  KIPF_DEFAULTS,
  type NodeTrainConfig,
  type NodeTrainResult,
} from './train/node-trainer.js';
export { GraphTrainer, type GraphTrainConfig } from './train/graph-trainer.js';
export { accuracy, classificationReport, regressionReport } from './train/metrics.js';
export { saveCheckpoint, loadCheckpoint, type Checkpoint } from './train/checkpoint.js';
export { loadPlanetoid, loadNodeCsv, rowNormalize, type NodeDataset } from './data/node-dataset.js';
export { DataError } from './data/csv.js';
export { symmetricEigen, type SymmetricEigen } from './genomics/symmetric-eigen.js';
export { readGenotypes, parseGenotypeTable, type GenotypeMatrix } from './data/genotypes.js';
export { readPhenotypes, traitValues, covariateMatrix, type PhenotypeTable } from './data/phenotypes.js';
export { matchSamples, type SampleMatch } from './genomics/match.js';
export {
  qualityControl,
  standardizeMarkers,
  type QcOptions,
  type QcReport,
  type CleanGenotypes,
} from './genomics/qc.js';
export { vanRadenGrm, readRelationship, principalComponents, type Relationship } from './genomics/relationship.js';
export { knnGraph, thresholdGraph, type SampleGraph } from './graph/sample-graph.js';
export { kernelBasis, fitKernelReml, predictKernel, type KernelFit } from './genomics/kernel-reml.js';
export { trainGcnRegressor, GCN_GP_DEFAULTS, type GcnRegressorConfig } from './train/gcn-regressor.js';
export { kFoldSplits, foldMetrics } from './train/cv.js';
export { readFolds } from './data/folds.js';
export { runStudy, formatTable, type StudyOptions, type StudyResult } from './genomics/study.js';
export { writeStudyReport, type StudyCharts } from './genomics/study-report.js';
export { syntheticGenomicData, writeSyntheticGenomicData } from './data/genomic-synthetic.js';
export {
  smilesToGraph,
  featurizeSmiles,
  toSample,
  ATOM_FEATURES,
  type AtomFeatureSet,
  type FeaturizeOptions,
  type MolGraph,
} from './chem/featurize.js';
export { CHEMPROP_ATOM_FEATURES, CHEMPROP_BOND_FEATURES } from './graph/chemprop-features.js';
export { loadMoleculeCsv, type MoleculeDataset } from './chem/dataset.js';
export { randomSplit, scaffoldSplit, scaffoldKey, type Split } from './chem/split.js';
export { imbalanceStats, mlRos, mlSmote, lpRos, type Synthetic, type Oversampler } from './chem/imbalance.js';
export { trainMoleculeTask, MOLECULE_DEFAULTS } from './chem/train-molecules.js';
export { rocAuc, prAuc, multilabelReport, chooseThresholds } from './train/multilabel-metrics.js';
export {
  attribute,
  identitySpace,
  perNode,
  perColumnAbs,
  type Attribution,
  type FeatureSpace,
} from './explain/attribution.js';
export { GraphProbe, probeGraph, columnObjective, type Objective, type ProbeGraph } from './explain/graph-probe.js';
export { gnnExplainer, GNNEXPLAINER_DEFAULTS } from './explain/gnnexplainer.js';
export { fidelity } from './explain/fidelity.js';
export { explainMolecule, moleculeAttention, moleculeProbe } from './explain/molecules.js';
export { explainNode, neighbourhood } from './explain/nodes.js';
export { explainGenomic, fitGenomicMembers } from './explain/genomic.js';
export { rrBlupEffects, gblupEffects } from './explain/marker-effects.js';
export { motifAtoms } from './chem/motif.js';
export { moleculeSvg } from './chem/draw.js';
export { treeShap, type TreeShapValues } from './explain/treeshap.js';
export {
  kernelShap,
  kernelShapAsync,
  type AsyncPredictFn,
  type KernelShapOptions,
  type KernelShapValues,
  type PredictFn,
} from './explain/kernelshap.js';
export {
  moleculeDescriptorShap,
  type MoleculeScoreFn,
  type MoleculeShap,
  type MoleculeShapOptions,
} from './explain/molecule-shap.js';
export {
  knnShapley,
  knnShapleyOf,
  knnRegressionScore,
  KnnLearner,
  KnnGameLearner,
  type LabelGame,
  type LabelledRows,
  type NeighbourGame,
} from './valuation/knn-shapley.js';
export { KernelRidgeLearner, kernelRidgeCv } from './valuation/kernel-ridge.js';
export { tmcShapley, type IncrementalLearner, type TmcOptions, type TmcValues } from './valuation/tmc-shapley.js';
export { MessageGraph, type MessageGraphOptions } from './graph/message-graph.js';
export { gatherRows, gatherAddRelu } from './ops/gather.js';
export {
  edgeSoftmax,
  edgeSoftmaxBackward,
  gatScore,
  leakyRelu,
  leakyReluBackward,
  spmmHeads,
  sddmmHeads,
  segmentSumHeads,
  permuteEdgeValues,
} from './ops/attention.js';
export { SAGEConv } from './nn/sage-conv.js';
export { GINConv, GINEConv, ginMlp, type GinOptions } from './nn/gin-conv.js';
export { GATConv, GATv2Conv, type GatOptions } from './nn/gat-conv.js';
export { layersToPyg, layersFromPyg } from './interop/pyg.js';
export { BondMessagePassing, type BondMessagePassingOptions } from './nn/dmpnn.js';
export {
  dmpnnStack,
  moleculeBatchGraph,
  type BondedMolecule,
  type DmpnnStackShape,
  type MoleculeBatchGraph,
} from './nn/dmpnn-stack.js';

// The types that the signatures above name (options, results, records), so callers can name them too
// and the API reference can link them. The worker protocol, kernel-backend
// and job-store types stay internal (typedoc.json's intentionallyNotExported).
export type { AttributionOptions, Baseline, GradientMethod } from './explain/attribution.js';
export type { GraphEpoch, GraphFitOptions } from './train/graph-trainer.js';
export type { GraphModel } from './train/graph-model.js';
export type { Placement, PlacementChoice } from './train/placement-trial.js';
export type { StepPlacementChoice } from './train/graph-placement.js';
export type { StepSync } from './train/step.js';
export type { CsrArrays } from './graph/gcn-norm.js';
export type { Decision, Fidelity } from './explain/fidelity.js';
export type { EnvScheme, MultiEnv } from './genomics/multi-env.js';
export type { EpochRecord, NodeTrainHooks } from './train/node-trainer.js';
export type { F1Report, RegressionReport } from './train/metrics.js';
export type { FoldMetrics } from './train/cv.js';
export type { FoldRecord, ModelTraitSummary } from './genomics/study.js';
export type { GcnMember, GenomicExplanation, GenomicMethod } from './explain/genomic.js';
export type { GcnRegressionInput, GcnRegressionResult, GcnRegressorHooks } from './train/gcn-regressor.js';
export type { GnnExplainerOptions, GnnExplanation } from './explain/gnnexplainer.js';
export type { GpModel } from './genomics/gp-models.js';
export type { GraphModelSpec, MoleculeAttention, MoleculeExplanation, MoleculeMethod } from './explain/molecules.js';
export type { AttentionPass } from './explain/attention.js';
export type { ImbalanceStats } from './chem/imbalance.js';
export type { KernelBasis } from './genomics/kernel-reml.js';
export type { LongFormat } from './data/phenotypes.js';
export type { MarkerEffects } from './explain/marker-effects.js';
export type { MoleculeCsvOptions } from './chem/dataset.js';
export type { MoleculeSvgOptions } from './chem/draw.js';
export type { MoleculeTaskOptions, MoleculeTaskResult } from './chem/train-molecules.js';
export type { Model } from './nn/model.js';
export type { MultilabelReport } from './train/multilabel-metrics.js';
export type { Neighbourhood, NodeExplanation, NodeMethod, NodeModelSpec } from './explain/nodes.js';
export type { ProbeCopies, ProbeCopy, ProbeModel, ProbeModelFactory, ProbeResult } from './explain/graph-probe.js';
export type { SimilarityMatrix } from './graph/sample-graph.js';
export type { FaultRecoveryOptions, RecoveredFault, SnapshotStats } from './train/fault-recovery.js';
export type { StoredArray, StoredTensor } from './core/safetensors.js';
export type { StudyData, StudyMarkers, StudySummary } from './genomics/study-data.js';
export type { SyntheticGp, SyntheticGpOptions, SyntheticQtl, SyntheticTrait } from './data/genomic-synthetic.js';
export type { Table } from './data/csv.js';
export {
  GraphStore,
  StoreWriter,
  StoreError,
  writeStore,
  readStoreHeader,
  type StoreHeader,
  type StoreContents,
  type FeatureSource,
} from './store/format.js';
export { csrFromEdges, arrayEdges, type EdgeStream } from './store/csr-build.js';
export { prepareOgb, type OgbPrepareOptions } from './store/ogb.js';
export { prepareCsv } from './store/from-csv.js';
export { writeSyntheticStore, ensureSyntheticStore, SYNTHETIC_SHAPES, type SyntheticShape } from './store/synthetic.js';
export {
  NeighborSampler,
  sampleNeighbors,
  batchRng,
  type CsrGraph,
  type SampledSubgraph,
  type NeighborSamplerOptions,
} from './store/neighbor-sampler.js';
export { ClusterSampler, bfsPartitionCsr, type ClusterSamplerOptions } from './store/cluster.js';
export type { StoreArrayEntry, StoreDType } from './store/format.js';
export type { BuiltCsr } from './store/csr-build.js';
export type { SyntheticOptions } from './store/synthetic.js';
export { BatchPrefetcher, type GatheredBatch, type SamplerSpec } from './store/prefetch.js';
export { storeNodeDataset } from './store/node-dataset.js';
export {
  trainSampled,
  buildSampledModel,
  checkSampledConfig,
  type SampledTrainConfig,
  type SampledTrainHooks,
  type SampledTrainResult,
  type SampledEpochRecord,
  type SamplerChoice,
} from './train/sampled-trainer.js';
export { layerwiseInference, type BatchGraph, type InferenceChunks } from './train/sampled-inference.js';
export { rankBatches, type SampledDistribution } from './train/sampled-distributed.js';
export type { RecordedInput, RecordedInputs } from './core/input-files.js';
export type { CandidateRow } from './genomics/candidates.js';
