#!/usr/bin/env bash
# Packs what the GPU machine needs into .train/ (ignored by git; carried by the device tool):
# the node binary (xz), the generator bundled with esbuild, its word lists, the corpora (xz).
# Usage: bash training/pack.sh   (after training/prepare-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .train/node_modules
[ -f .train/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" >.train/node.xz
cp -r node_modules/friendly-words node_modules/an-array-of-english-words .train/node_modules/
npx esbuild training/gen-tasks.ts --bundle --platform=node --format=esm --outfile=.train/gen-tasks.mjs \
  --external:friendly-words --external:an-array-of-english-words --log-level=warning
tar cJf .train/corpus.tar.xz -C training/data/corpus .
du -sh .train/*
