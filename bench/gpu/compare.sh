#!/usr/bin/env bash
# The engine against the PyTorch peer on one GPU (`bench gpu`), on a random-weight checkpoint of a real
# model's shape, written once to /tmp. One results file (JSON) and its log per call.
# Usage (GPU machine, repository root, runtime unpacked and bench/gpu/env.sh sourced, bundle in .gpu/app):
#   bash bench/gpu/compare.sh OUTDIR llada-8b|dream-7b LENGTHS [METHODS]
#   bash bench/gpu/compare.sh $OUT llada-8b 4096,8192
#   bash bench/gpu/compare.sh $OUT llada-8b 32768 dual,dual+wf-practical
#   THRESHOLD=0.9 bash bench/gpu/compare.sh $OUT llada-8b 4096     # Fast-dLLM's confidence threshold
#   GRAPH='{"cachedAttention":"explicit"}' bash bench/gpu/compare.sh ...   # a GraphTuning A/B (file tagged -ab)
#   PEER=none: the engine alone; WARMUP=0: no untimed block first (both systems); WARMUP_NONE=0: none before the
#   no-cache rows only; IN_PROCESS=1: one engine process
set -uo pipefail
out=${1:?OUTDIR}; shape=${2:?SHAPE}; lengths=${3:?LENGTHS}; methods=${4:-none,prefix,dual,dual+wf-practical}
ckpt=/tmp/$shape
[ -f $ckpt/config.json ] || python3 bench/gpu/make_checkpoint.py $shape $ckpt >&2
name=gpu-$shape-${lengths//,/-}$([ "$methods" = none,prefix,dual,dual+wf-practical ] || echo "-${methods//[,+]/-}")
extra=()
[ -n "${THRESHOLD:-}" ] && { extra+=(--threshold "$THRESHOLD"); name+=-th$THRESHOLD; }
[ -n "${GRAPH:-}" ] && { extra+=(--graph "$GRAPH"); name+=-ab; }
[ -n "${PEER:-}" ] && extra+=(--peer "$PEER")   # none: the engine alone
[ -n "${WARMUP:-}" ] && extra+=(--warmup "$WARMUP")
[ -n "${WARMUP_NONE:-}" ] && extra+=(--warmup-none "$WARMUP_NONE")   # 0: no warm-up before the no-cache rows only
[ -n "${IN_PROCESS:-}" ] && extra+=(--in-process)   # one engine load for all rows (an 8B load per row costs about a minute)   # 0 for the long no-cache rows, where one warm-up block costs half the run
node .gpu/app/bench.mjs gpu --checkpoint $ckpt --prompt-lengths $lengths --methods $methods --gen-length 64 --block-length 32 --steps 64 --budget 0.1 --json "${extra[@]}" \
  > $out/$name.json 2> >(grep --line-buffered -v 'W:onnxruntime' > $out/$name.log)
