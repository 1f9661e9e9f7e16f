#!/usr/bin/env bash
# The engine on LLaDA-8B's shape (random bf16 weights) on one CUDA GPU: writes a checkpoint once, then
# the cache hosts on the block program at the given prompt lengths, in one process (an 8B load is slow).
# Usage (GPU machine, repository root, bundle in .gpu/app): bash bench/gpu/engine-8b.sh OUTDIR [LENGTHS] [SHAPE]
set -euo pipefail
out=${1:?OUTDIR}; lengths=${2:-4096}; shape=${3:-llada-8b}
ckpt=/tmp/$shape
[ -f $ckpt/config.json ] || python3 bench/gpu/make_checkpoint.py $shape $ckpt
for th in none 0.9; do
  extra=(); [ $th = none ] || extra=(--threshold $th)
  node .gpu/app/bench.mjs engine --checkpoint $ckpt --device cuda --prompt-lengths $lengths --methods none,prefix,dual \
    --executors block --gen-length 64 --block-length 32 --steps 64 --in-process --dtype ${DTYPE:-fp16} "${extra[@]}" --json \
    > $out/engine-$shape-${DTYPE:-fp16}-th$th.json 2> >(grep -v 'W:onnxruntime' > $out/engine-$shape-${DTYPE:-fp16}-th$th.log)
done
