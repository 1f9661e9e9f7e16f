#!/usr/bin/env bash
# RULER on the bundled model with the CUDA provider (fp32, TF32 off), on the GPU machine in the
# repository copy, the runtime's parts in /tmp/blob and the bundle (bench/gpu/bundle.ts) in .gpu/app:
# one job of ruler-jobs.sh (results in /tmp/w/ruler-LENGTH, resumable, all cores unless THREADS).
# usage: bash bench/gpu/ruler.sh SECONDS LENGTH SAMPLES SEED [more eval ruler flags...]
#   bash bench/gpu/ruler.sh 540 4096 20 161803
#   bash bench/gpu/ruler.sh 540 8192 10 161803 --rope-theta 20450 --max-length 8192
# The methods: the dual host, WaveFilter practical and the four baselines at budget 0.1 (override
# with --filter / --budget after SEED: the last of a repeated flag counts).
set -u
T=${1:?SECONDS} L=${2:?LENGTH} N=${3:?SAMPLES} S=${4:?SEED}; shift 4
[ -d /tmp/gpurt ] || bash /tmp/blob/unpack.sh >/dev/null
jobs=$(mktemp)
echo "ruler-$L $L $N $S --filter none,wavefilter,snapkv,h2o,sparse-dllm,streaming --budget 0.1 $*" > "$jobs"
THREADS=${THREADS:-$(nproc)} exec bash "$(dirname "$0")/ruler-jobs.sh" "$T" "$jobs"
