/**
 * What a cache host is: a policy both executors read. The step executor builds its host object
 * from it (cache/index.ts), the block program takes its window and cache controls from it
 * (decode/block-executor.ts). Each built-in host is one folder under hosts/.
 */
export interface HostPolicy {
  readonly name: string;
  /** One line for --help and the docs. */
  readonly summary: string;
  /**
   * Forwards a block runs at least, even when its masks are gone earlier. Fast-dLLM v1's prefix and
   * dual loops run one cached step after the refresh before they test for completion (2); the
   * no-cache loop tests after every forward (1). Kept so NFE matches the official code.
   */
  readonly minForwardsPerBlock: number;
  /** Steps after a block's first forward attend to the K/V it built; false: every step is a full forward. */
  readonly cached: boolean;
  /** For cached hosts: the positions [from, to) a step recomputes for block [lo, hi) of a canvas of length L (must contain the block). */
  stepWindow(lo: number, hi: number, L: number): readonly [number, number];
  /**
   * Dream: the block's first forward commits position lo alone. Fast-dLLM's Dream block loop does
   * this because in cached steps the shifted prediction for lo would come from a row outside the
   * query window.
   */
  readonly dreamFirstTokenFromRefresh: boolean;
  /** Whether a token filter can sit on this host (it needs cached prompt rows). */
  readonly acceptsFilter: boolean;
}
