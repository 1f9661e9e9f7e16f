#!/usr/bin/env bash
# Stage 3 driver on the GPU machine (one 10-minute run; call it again to continue):
#   [WF_TASK_WEIGHTS=...] [INIT_DIR=DIR] [MINUTES=8.8] bash training/gpu-run.sh [train.py options]
# Expects .train/ from training/pack.sh (node binary, bundled generator, word lists, corpora).
# State lives in /tmp/wf (kept between runs on the same machine); results go to $OUT.
set -euo pipefail
W=/tmp/wf
mkdir -p $W
[ -x $W/node ] || { xz -dc .train/node.xz >$W/node; chmod +x $W/node; }
[ -d $W/corpus ] || { mkdir -p $W/corpus; tar xJf .train/corpus.tar.xz -C $W/corpus; }
INIT=()
I=${INIT_DIR:-.train/init}
if [ -f $I/meta.tar ] && [ ! -f $W/ckpt/state.pt ]; then
  # continuing on a fresh machine: the tokenizer and float32 weights of the last run came back as files
  tar xf $I/meta.tar -C $I
  mkdir -p $W/tok && cp $I/tokenizer.json $I/tokenizer_config.json $W/tok/
  INIT=(--init $I)
fi
if [ ! -f $W/tok/tokenizer.json ]; then
  # tokenizer (stage 2): corpora + 2,400 task samples from the generator (training seeds)
  for i in 0 1 2 3; do $W/node .train/gen-tasks.mjs --corpus $W/corpus --text 600 --seed $((1000000 + i * 7777)) >$W/tasks.$i.jsonl & done
  wait
  cat $W/tasks.*.jsonl >$W/tasks.jsonl
  python3 training/train_tokenizer.py --corpus $W/corpus --tasks $W/tasks.jsonl --out $W/tok
fi
WF_TASK_WEIGHTS=${WF_TASK_WEIGHTS:-} PYTHONUNBUFFERED=1 python3 training/train.py --tok $W/tok --corpus $W/corpus --gen .train/gen-tasks.mjs --node $W/node \
  --ckpt $W/ckpt --out $W/out --minutes ${MINUTES:-8.8} "${INIT[@]}" "$@" 2>&1 | tee $W/run.log | grep -v '^\s*$' | tail -n 400
cp $W/out/model-0000*.safetensors "$OUT"/
tar cf "$OUT"/meta.tar -C $W/out config.json model.safetensors.index.json train-state.json train-log.jsonl probe.json -C $W/tok tokenizer.json tokenizer_config.json -C $W run.log
ls -la "$OUT"
