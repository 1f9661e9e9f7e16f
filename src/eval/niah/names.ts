/** Names of the needle grid's needles and scorers (no dependencies: the CLI lists them in --help). */
export type NeedleKind = 'kamradt' | 'ruler';
export const NEEDLE_KINDS: readonly NeedleKind[] = ['kamradt', 'ruler'];

export type NiahScorer = 'keyword' | 'rouge1x10' | 'needlebench';
export const NIAH_SCORERS: readonly NiahScorer[] = ['keyword', 'rouge1x10', 'needlebench'];
