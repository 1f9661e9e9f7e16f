/**
 * The decoding rule of one denoising step as graph ops: from the float64 row summaries of the
 * block's positions to the committed tokens. It is the graph twin of decode/scoring.ts
 * (`scoreLladaFromStats`, `scoreDreamFromStats`) and decode/transfer.ts (`selectTransfers`), with
 * the same arithmetic in the same precision, so both executors commit the same tokens:
 *
 *   confidence  0: p(top1) = exp(v1 - lse)      (LLaDA low_confidence; Dream maskgit_plus)
 *               1: p(top1) - p(top2)            (Dream topk_margin)
 *               2: sum p log(p + 1e-10)         (Dream entropy)
 *               3: a uniform draw                (LLaDA random remasking)
 *   rule        0: quota   the `count` most confident candidates; count = quota[k] (LLaDA's
 *                          schedule), or floor(f32(masks) * quota_ratio[k]) (Dream's 1 - s/t)
 *                          when quota_from_ratio, and every mask from step quota_all_from on
 *               1: threshold  the most confident, and every candidate at or above `threshold`
 *               2: factor     Fast-dLLM's get_transfer_index_dynamic (with its quirk: a first
 *                             failure at the last candidate accepts all)
 *               3: transfer   each candidate with a uniform draw below p_transfer[k] (Dream's
 *                             origin: 1 - t[k+1]/t[k], 1 from step S-1 on)
 *   sampling    (the sampling variant) the token is drawn from the rows' logits with temperature,
 *               and Dream's top-p / top-k, instead of taken from the summaries' argmax.
 *   draws       The random rules read uniform draws fed by the caller (`draws`, f64), one per
 *               candidate (masked position, in position order) per step, from `draw_offset` on;
 *               the step executor draws the same numbers from the same seeded stream in the same
 *               order, so both executors commit the same tokens. A step that commits by first_only
 *               reads no transfer draws (its scoring draws it does), as in the step executor's Dream loop.
 *   first_only  Dream with a cache: the block's first forward commits position lo alone (Fast-dLLM's
 *               Dream loop), when it is masked.
 * Ranking ties go to the earlier position (ONNX TopK orders equal values by index).
 */
import { DT, type GraphBuilder, once } from '../model/onnx-builder.js';
import type { RowStatValues } from '../model/graph.js';
import type { ModelSpec } from '../model/spec.js';
import { type SampleInputs, emitSample } from './sample-graph.js';

export const RuleNames = {
  confidence: 'confidence_kind',
  rule: 'rule_kind',
  threshold: 'threshold',
  factor: 'factor',
  quota: 'quota',
  quotaRatio: 'quota_ratio',
  quotaFromRatio: 'quota_from_ratio',
  quotaAllFrom: 'quota_all_from',
  firstOnly: 'first_only',
  draws: 'draws',
  pTransfer: 'p_transfer',
} as const;

export const CONFIDENCE_KIND = { probability: 0, margin: 1, negEntropy: 2, random: 3 } as const;
export const RULE_KIND = { quota: 0, threshold: 1, factor: 2, transfer: 3 } as const;

export interface RuleInputs {
  readonly confidence: string;
  readonly rule: string;
  readonly threshold: string;
  readonly factor: string;
  readonly quota: string;
  readonly quotaRatio: string;
  readonly quotaFromRatio: string;
  readonly quotaAllFrom: string;
  readonly firstOnly: string;
  readonly draws: string;
  readonly pTransfer: string;
}

/** The rule's inputs; `perBlock` (the generation program): quota, quota_ratio and p_transfer are [NB, K], a row per block. */
export function declareRuleInputs(g: GraphBuilder, perBlock = false): RuleInputs {
  const R = RuleNames;
  const K = perBlock ? ['NB', 'K'] : ['K'];
  return {
    confidence: g.input(R.confidence, DT.INT64, []),
    rule: g.input(R.rule, DT.INT64, []),
    threshold: g.input(R.threshold, DT.DOUBLE, []),
    factor: g.input(R.factor, DT.DOUBLE, []),
    quota: g.input(R.quota, DT.INT64, K),
    quotaRatio: g.input(R.quotaRatio, DT.FLOAT, K),
    quotaFromRatio: g.input(R.quotaFromRatio, DT.BOOL, []),
    quotaAllFrom: g.input(R.quotaAllFrom, DT.INT64, []),
    firstOnly: g.input(R.firstOnly, DT.BOOL, []),
    draws: g.input(R.draws, DT.DOUBLE, ['Nd']),
    pTransfer: g.input(R.pTransfer, DT.DOUBLE, K),
  };
}

export interface DecideState {
  readonly canvas: string; // int64 [L]
  readonly lo: string; // int64 []
  readonly hi: string;
  /**
   * lo and hi as int64 [1] graph inputs, for Slice bounds: ORT's CUDA Slice reads its bounds on the
   * host, and a bound computed on the device costs a device-to-host copy and a stream sync per step.
   */
  readonly loVec?: string;
  readonly hiVec?: string;
  readonly step: string; // int64 [] forward index in the block
  readonly commitStep: string; // int64 [B]
  /** int64 []: the first unread draw */
  readonly drawOffset: string;
  /** The block's first forward (where first_only applies). */
  readonly refresh: boolean;
}

/** The sampling variant: tokens drawn from the block rows' logits (sample-graph.ts). */
export interface DecideSampling {
  readonly inputs: SampleInputs;
  readonly logits: string; // f32 [B, V], the rows of positions lo..hi-1
}

export interface Decided {
  readonly canvas: string;
  readonly commitStep: string;
  readonly masksLeft: string; // int64 []
  readonly confidence: string; // f64 [B], -inf for non-candidates
  readonly drawOffset: string; // int64 []
}

/**
 * A rule fixed when the graph is built (ProgramShape.decide): only its own ops are emitted, and a
 * deterministic rule (no random confidence, no transfer draws, no sampling) emits no draw
 * bookkeeping. The fed kinds must match it (BlockProgram.run checks).
 */
export interface FixedRule {
  readonly rule: keyof typeof RULE_KIND;
  readonly confidence: keyof typeof CONFIDENCE_KIND;
}

/** Emits one step's decision into `g`; `stats` are the summaries of rows for block positions lo..hi-1. */
export function emitDecide(g: GraphBuilder, spec: ModelSpec, r: RuleInputs, stats: RowStatValues, s: DecideState, sampling?: DecideSampling, fixed?: FixedRule): Decided {
  const i64 = (v: number): string => g.constI64([v], []);
  const f64 = (v: number): string => g.scalarF64(v);
  const col = (x: string, c: number): string => g.op('Squeeze', [g.op('Slice', [x, g.constI64([c]), g.constI64([c + 1]), g.constI64([1])]), g.constI64([1])]);
  const vec = (x: string): string => g.op('Unsqueeze', [x, g.constI64([0])]);

  const loVec = s.loVec ?? vec(s.lo);
  const hiVec = s.hiVec ?? vec(s.hi);
  const blockIds = g.op('Slice', [s.canvas, loVec, hiVec]); // [B]
  const isMask = g.op('Equal', [blockIds, i64(spec.maskTokenId)]);
  const masks = g.op('ReduceSum', [g.op('Cast', [isMask], { to: DT.INT64 })], { keepdims: 0 });
  // The draws of one step, in the step executor's order: per candidate c (position order) its
  // scoring draws (the token's when sampling, then LLaDA random remasking's confidence), then
  // Dream origin's transfer draw per candidate.
  const usesDraws = !fixed || Boolean(sampling) || fixed.confidence === 'random' || fixed.rule === 'transfer';
  const candIndex = once(() => g.op('Sub', [g.op('CumSum', [g.op('Cast', [isMask], { to: DT.INT64 }), i64(0)]), i64(1)]));
  const nDraws = once(() => g.op('Squeeze', [g.op('Shape', [r.draws]), g.constI64([0])]));
  // (an empty `draws` reads one placeholder: the deterministic rules never use it)
  const padded = once(() => g.op('Concat', [r.draws, g.constF64([0.5], [1])], { axis: 0 }));
  const drawAt = (idx: string): string => g.op('Gather', [padded(), g.op('Min', [g.op('Max', [idx, i64(0)]), g.op('Max', [g.op('Sub', [nDraws(), i64(1)]), i64(0)])])], { axis: 0 });
  const isRandom = once(() => g.op('Cast', [g.op('Equal', [r.confidence, i64(CONFIDENCE_KIND.random)])], { to: DT.INT64 }));
  const hot = once(() => (sampling ? g.op('Cast', [g.op('Greater', [sampling.inputs.temperature, f64(0)])], { to: DT.INT64 }) : i64(0)));
  const scorePer = once(() => g.op('Add', [hot(), isRandom()]));
  const tokenAt = once(() => g.op('Add', [s.drawOffset, g.op('Mul', [scorePer(), candIndex()])]));
  const randomDraw = once(() => drawAt(g.op('Add', [tokenAt(), hot()])));
  const transferDraw = once(() => drawAt(g.op('Add', [g.op('Add', [s.drawOffset, g.op('Mul', [masks, scorePer()])]), candIndex()])));
  const isTransfer = once(() => g.op('Equal', [r.rule, i64(RULE_KIND.transfer)]));

  let token = col(stats.topIds, 0);
  const lse = stats.logSumExp;
  let p1 = once(() => g.op('Exp', [g.op('Sub', [col(stats.topValues, 0), lse])]));
  let margin = once(() => g.op('Sub', [p1(), g.op('Exp', [g.op('Sub', [col(stats.topValues, 1), lse])])]));
  let negEntropy = (): string => stats.negEntropy;
  if (sampling) {
    const sm = emitSample(g, spec, sampling.inputs, sampling.logits, drawAt(tokenAt()), g.op('Slice', [stats.topValues, g.constI64([0]), g.constI64([1]), g.constI64([1])]));
    token = sm.token;
    if (spec.family === 'llada') {
      // softmax of the raw logits at the sampled token
      const raw = g.op('Cast', [sampling.logits], { to: DT.DOUBLE });
      const at = g.op('Squeeze', [g.op('GatherElements', [raw, g.op('Unsqueeze', [token, g.constI64([-1])])], { axis: -1 }), g.constI64([-1])]);
      p1 = once(() => g.op('Exp', [g.op('Sub', [at, lse])]));
    } else {
      // Dream's confidences read the distribution the token was drawn from
      p1 = () => sm.pToken;
      margin = once(() => {
        const top2 = g.opN('TopK', [sm.probs, g.constI64([2])], 2, { axis: -1, largest: 1, sorted: 1 })[0];
        return g.op('Sub', [col(top2, 0), col(top2, 1)]);
      });
      negEntropy = once(() => g.op('ReduceSum', [g.op('Mul', [sm.probs, g.op('Log', [g.op('Add', [sm.probs, f64(1e-10)])])]), g.constI64([-1])], { keepdims: 0 }));
    }
  }
  const confidenceOf = { probability: p1, margin, negEntropy, random: randomDraw };
  const conf = fixed
    ? confidenceOf[fixed.confidence]()
    : g.op('Where', [g.op('Equal', [r.confidence, i64(CONFIDENCE_KIND.margin)]), margin(),
      g.op('Where', [g.op('Equal', [r.confidence, i64(CONFIDENCE_KIND.negEntropy)]), negEntropy(),
        g.op('Where', [g.op('Equal', [r.confidence, i64(CONFIDENCE_KIND.random)]), randomDraw(), p1()])])]);
  const confidence = g.op('Where', [isMask, conf, f64(-Infinity)]);

  // rank the block's positions by confidence (non-candidates last): order[r] is the position of rank r
  const B = g.op('Shape', [blockIds]);
  const [sorted, order] = g.opN('TopK', [confidence, B], 2, { axis: 0, largest: 1, sorted: 1 });
  const rank = g.op('Range', [i64(0), g.op('Squeeze', [B, g.constI64([0])]), i64(1)]);
  const sortedMask = g.op('Gather', [isMask, order], { axis: 0 });

  const k = s.step;
  const isFirst = once(() => g.op('Equal', [rank, i64(0)]));
  const byRuleOf = {
    quota: once(() => {
      const fixedCount = g.op('Gather', [r.quota, k], { axis: 0 });
      const ratio = g.op('Gather', [r.quotaRatio, k], { axis: 0 });
      const fromRatio = g.op('Cast', [g.op('Floor', [g.op('Mul', [g.op('Cast', [masks], { to: DT.FLOAT }), ratio])])], { to: DT.INT64 });
      let count = g.op('Where', [r.quotaFromRatio, fromRatio, fixedCount]);
      count = g.op('Where', [g.op('GreaterOrEqual', [k, r.quotaAllFrom]), masks, count]);
      return g.op('Less', [rank, count]);
    }),
    threshold: once(() => g.op('Or', [isFirst(), g.op('GreaterOrEqual', [sorted, r.threshold])])),
    // factor: accept ranks below the first r with c_r < 1 - f / (r + 2) (r = 0: never), over the candidates
    factor: once(() => {
      const bar = g.op('Where', [isFirst(), f64(-1), g.op('Sub', [f64(1), g.op('Div', [r.factor, g.op('Cast', [g.op('Add', [rank, i64(2)])], { to: DT.DOUBLE })])])]);
      const last = g.op('Sub', [masks, i64(1)]);
      const fails = g.op('And', [g.op('Less', [sorted, bar]), g.op('Less', [rank, masks])]);
      const top = g.op('ReduceMin', [g.op('Where', [fails, rank, last])], { keepdims: 0 });
      const topAdj = g.op('Add', [top, g.op('Cast', [g.op('Or', [g.op('Equal', [top, i64(0)]), g.op('Equal', [top, last])])], { to: DT.INT64 })]);
      return g.op('Less', [rank, topAdj]);
    }),
    // transfer: per position (not per rank), back in rank order through `order`
    transfer: once(() => g.op('Gather', [g.op('Less', [transferDraw(), g.op('Gather', [r.pTransfer, k], { axis: 0 })]), order], { axis: 0 })),
  };

  // (ORT's CPU Where has no bool kernel: choose with And / Or)
  const when = (kind: keyof typeof RULE_KIND): string => g.op('And', [g.op('Equal', [r.rule, i64(RULE_KIND[kind])]), byRuleOf[kind]()]);
  const byRule = fixed ? byRuleOf[fixed.rule]() : g.op('Or', [g.op('Or', [when('quota'), when('threshold')]), g.op('Or', [when('factor'), when('transfer')])]);
  const acceptRank = g.op('And', [byRule, sortedMask]);
  // back from ranks to positions (order is a permutation: every position is written)
  let accept = g.op('ScatterElements', [g.op('Cast', [isMask], { to: DT.INT64 }), order, g.op('Cast', [acceptRank], { to: DT.INT64 })], { axis: 0 });
  accept = g.op('Cast', [accept], { to: DT.BOOL });
  let transferReads = isTransfer;
  if (s.refresh) {
    const firstMasked = g.op('Squeeze', [g.op('Slice', [isMask, g.constI64([0]), g.constI64([1])]), g.constI64([0])]);
    const onlyFirst = g.op('And', [r.firstOnly, firstMasked]);
    accept = g.op('Or', [g.op('And', [onlyFirst, isFirst()]), g.op('And', [g.op('Not', [onlyFirst]), accept])]);
    transferReads = once(() => g.op('And', [isTransfer(), g.op('Not', [onlyFirst])]));
  }
  // a deterministic fixed rule reads no draws: the offset passes through
  const drawOffset = usesDraws ? g.op('Add', [s.drawOffset, g.op('Mul', [masks, g.op('Add', [scorePer(), g.op('Cast', [transferReads()], { to: DT.INT64 })])])]) : s.drawOffset;
  const newBlock = g.op('Where', [accept, token, blockIds]);
  const L = g.op('Shape', [s.canvas]);
  const canvas = g.op('Concat', [g.op('Slice', [s.canvas, g.constI64([0]), loVec]), newBlock, g.op('Slice', [s.canvas, hiVec, L])], { axis: 0 });
  const commitStep = g.op('Where', [accept, k, s.commitStep]);
  const masksLeft = g.op('Sub', [masks, g.op('ReduceSum', [g.op('Cast', [accept], { to: DT.INT64 })], { keepdims: 0 })]);
  return { canvas, commitStep, masksLeft, confidence, drawOffset };
}
