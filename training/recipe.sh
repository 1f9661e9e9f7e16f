#!/usr/bin/env bash
# The exact sequence that produced models/llada-ruler-12m (see its README.md). Each `run` line is one
# 10-minute call on the GPU machine (device tool: carry .train/node.xz .train/gen-tasks.mjs
# .train/corpus.tar.xz .train/node_modules; /tmp/wf persists between calls on one machine; a fresh
# machine continues from the files the last call returned, put in place by INIT_DIR). Stages 1-2 and
# 4-5 run on any CPU machine.
set -euo pipefail
echo "stage 1: bash training/prepare-corpus.sh && bash training/pack.sh"
echo "stage 2+3, run 0 (steps 0-7190, fresh machine, trains the tokenizer first):"
echo "  MINUTES=8.6 bash training/gpu-run.sh --lr 7e-4 --low-t 0 --weight-floor 0"
W1=niah_single_1=3,niah_single_2=2,niah_single_3=0.5,niah_multikey_1=2,niah_multikey_2=2,niah_multikey_3=0.3,niah_multivalue=0.5,niah_multiquery=0.5,vt=1,cwe=0.2,fwe=0.2,qa_synth=0.3
W2=niah_single_1=1,niah_single_2=1,niah_single_3=0.5,niah_multikey_1=3,niah_multikey_2=2.5,niah_multikey_3=0.5,niah_multivalue=0.7,niah_multiquery=0.7,vt=2.5,cwe=0.2,fwe=0.2,qa_synth=0.3
W3=niah_single_1=1,niah_single_2=1,niah_single_3=0.7,niah_multikey_1=3,niah_multikey_2=2.5,niah_multikey_3=0.7,niah_multivalue=0.7,niah_multiquery=0.7,vt=2.5,cwe=0.2,fwe=0.2,qa_synth=0.3
echo "run 1 (steps 7190-14642, fresh machine, from run 0's returned files copied to /tmp/init):"
echo "  WF_TASK_WEIGHTS=$W1 INIT_DIR=/tmp/init MINUTES=8.7 bash training/gpu-run.sh --lr 7e-4 --text-frac 0.05"
echo "run 2 (steps 14642-20902, same machine):"
echo "  WF_TASK_WEIGHTS=$W2 MINUTES=8.7 bash training/gpu-run.sh --lr 7e-4 --text-frac 0.05"
echo "run 3 (steps 20902-27171, same machine, learning rate decayed linearly to 0):"
echo "  WF_TASK_WEIGHTS=$W3 MINUTES=8.7 bash training/gpu-run.sh --lr 7e-4 --text-frac 0.05 --decay"
echo "stage 4: python3 training/export.py --run DIR_OF_RUN_3_FILES --out models/llada-ruler-12m"
echo "stage 5: npx tsx training/loss-chart.mts models/llada-ruler-12m; the evaluation commands in the model card"
