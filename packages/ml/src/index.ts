// Public entry of @ichigen/ml: keep it small and stable (see README.md).
export { Frame } from './frame.js';
export type { Column, NumericColumn, CategoricalColumn, ColumnInput } from './frame.js';
export { MlError } from './errors.js';
export * from './metrics/index.js';
