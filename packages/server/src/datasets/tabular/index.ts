// Tabular ingest of the platform: CSV bytes → profile (types and statistics) and → Arrow IPC stream.
// Pure functions over byte streams; the dataset service stores what they produce.

export type { ColumnProfile, ColumnType, Quantiles, TabularOptions, TabularProfile } from './types.js';
export { profileTabular } from './profile.js';
export { tabularToArrow, ARROW_BATCH_ROWS } from './arrow.js';
export { diffProfiles } from './diff.js';
export type { ProfileDiff, ColumnChange } from './diff.js';
export { NA_TOKENS } from './values.js';
