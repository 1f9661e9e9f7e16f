#!/usr/bin/env bash
# Several RULER evaluations of the bundled model side by side on one GPU machine (CUDA provider,
# fp32, TF32 off), each in its own process and results folder /tmp/w/NAME, for at most SECONDS.
# Resumable: the same call again continues every folder (rows are kept by input hash). The folders
# and logs go to $OUT/w.tgz when $OUT is set. The runtime must be unpacked (bench/gpu/README.md) and
# the bundle in .gpu/app (bench/gpu/bundle.ts).
# usage: bash bench/gpu/ruler-jobs.sh SECONDS JOBFILE
#   JOBFILE: one job a line, "NAME LENGTH SAMPLES SEED [more eval ruler flags...]"; # starts a comment
#   e.g. 8k-host 8192 10 271828 --rope-theta 20450 --max-length 8192 --filter none
set -u
T=${1:?SECONDS} J=${2:?JOBFILE}
D=${DEVICE:-cuda}   # DEVICE=cpu tries the script on any machine
[ "$D" = cpu ] || source bench/gpu/env.sh
mkdir -p /tmp/w
if [ -f .gpu/app/corpus/jargon.txt.gz ] && ! [ -f /usr/share/doc/jargon-text/jargon.txt.gz ]; then
  mkdir -p /usr/share/doc/jargon-text && cp .gpu/app/corpus/jargon.txt.gz /usr/share/doc/jargon-text/
fi
{ nvidia-smi 2>/dev/null --query-gpu=name,driver_version,memory.total --format=csv,noheader; node --version; nproc; } > /tmp/w/env.txt 2>&1
start=$(date +%s)
while read -r name len n seed rest; do
  case "$name" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086
  ( timeout "$T" node .gpu/app/cli.mjs eval ruler --device "$D" --threads "${THREADS:-2}" --lengths "$len" --samples "$n" --seed "$seed" \
      --out "/tmp/w/$name" --no-progress $rest >> "/tmp/w/$name.log" 2>&1
    echo "$name: rc=$? after $(( $(date +%s) - start )) s; rows: $(cat "/tmp/w/$name/results.jsonl" 2>/dev/null | wc -l)" >> "/tmp/w/$name.log" ) &
done < "$J"
wait
tail -n 1 /tmp/w/*.log
if [ -n "${OUT:-}" ]; then tar czf "$OUT/w.tgz" -C /tmp w; fi
