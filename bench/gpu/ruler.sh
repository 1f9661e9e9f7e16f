#!/usr/bin/env bash
# RULER on the bundled model with the CUDA provider (fp32, TF32 off), on the GPU machine in the
# repository copy, the runtime's parts in /tmp/blob and the bundle (bench/gpu/bundle.ts) in .gpu/app.
# Resumable: a second call with the same arguments continues the results file in /tmp/w/ruler-LENGTH.
# usage: bash bench/gpu/ruler.sh SECONDS LENGTH SAMPLES SEED [more eval ruler flags...]
#   bash bench/gpu/ruler.sh 540 4096 20 161803
#   bash bench/gpu/ruler.sh 540 8192 10 161803 --rope-theta 20450 --max-length 8192
# The methods: the dual host, WaveFilter practical and the four baselines at budget 0.1 (override
# with --filter / --budget after SEED).
set -u
T=${1:?SECONDS} L=${2:?LENGTH} N=${3:?SAMPLES} S=${4:?SEED}; shift 4
[ -d /tmp/gpurt ] || bash /tmp/blob/unpack.sh >/dev/null
source bench/gpu/env.sh
mkdir -p /tmp/w
if [ -f .gpu/app/corpus/jargon.txt.gz ] && ! [ -f /usr/share/doc/jargon-text/jargon.txt.gz ]; then
  mkdir -p /usr/share/doc/jargon-text && cp .gpu/app/corpus/jargon.txt.gz /usr/share/doc/jargon-text/
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; node --version; } > /tmp/w/env.txt 2>&1
start=$(date +%s)
timeout "$T" node .gpu/app/cli.mjs eval ruler --device cuda --lengths "$L" --samples "$N" --seed "$S" \
  --filter none,wavefilter,snapkv,h2o,sparse-dllm,streaming --budget 0.1 --out "/tmp/w/ruler-$L" --no-progress "$@" \
  >> "/tmp/w/ruler-$L.log" 2>&1
echo "rc=$? after $(( $(date +%s) - start )) s; rows: $(wc -l < "/tmp/w/ruler-$L/results.jsonl")" | tee -a "/tmp/w/ruler-$L.log"
