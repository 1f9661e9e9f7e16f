/** Token filters: the registry (one folder per filter) and the types a caller needs. */
export { TOKEN_FILTERS, FILTER_NAMES, FilterFactory } from './registry.js';
export type { FilterEntry, FilterContext, FilterName, FilterOptions } from './registry.js';
export { parseBudget } from './budget.js';
export type { TokenFilter, Selection, SelectionRequest, Budget } from './token-filter.js';
export { WaveFilter, resolveWaveOptions } from './wavefilter/index.js';
export type { WaveFilterOptions, ResolvedWaveOptions, WavePreset } from './wavefilter/index.js';
