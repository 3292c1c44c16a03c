// Public entry of @ichigen/ml: keep it small and stable (see README.md).
export { Frame } from './frame.js';
export type { Column, NumericColumn, CategoricalColumn, ColumnInput } from './frame.js';
export { MlError } from './errors.js';
export * from './metrics/index.js';
export { ENGINE_VERSION } from './version.js';
export { fitBinMappers, binFrame, MISSING_BIN, MAX_CATEGORY_BINS } from './binning.js';
export type { BinMapper, NumericBinMapper, CategoricalBinMapper, BinnedData, BinningOptions } from './binning.js';
export { trainGbdt } from './gbdt/train.js';
export type { GbdtOptions, IterationMetrics } from './gbdt/train.js';
export { GbdtModel, GBDT_FORMAT, GBDT_FORMAT_VERSION } from './gbdt/model.js';
export type { GbdtModelJson, GbdtTreeJson, GbdtFeatureJson, GbdtObjective, ImportanceKind } from './gbdt/model.js';
export { loadModel } from './model.js';
export type { LoadedModel } from './model.js';
export { stratifiedKFold, groupedKFold, groupedStratifiedHoldout, splitsFromFolds } from './cv.js';
export type { CvSplit } from './cv.js';
export { trainLogistic, LogisticModel, LOGISTIC_FORMAT, LOGISTIC_FORMAT_VERSION } from './logistic.js';
export type { LogisticOptions, LogisticModelJson, LogisticFeatureJson, LogisticParamsJson } from './logistic.js';
export { modelToOnnx, logisticToOnnx, gbdtToOnnx, float32Threshold } from './onnx/index.js';
