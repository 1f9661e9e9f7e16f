#!/usr/bin/env bash
# Packs what the GPU machine needs into .train/ (ignored by git; carried by the device tool):
# the node binary (xz), the generator bundled with esbuild, its word lists, the corpora (xz).
# Usage: bash training/pack.sh   (after training/prepare-corpus.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .train/node_modules
# stripped and at xz -9e (22 MB): with the repository it must fit the device tool's 64 MiB per call
if [ ! -f .train/node.xz ]; then cp "$(readlink -f "$(command -v node)")" .train/node.bin && strip .train/node.bin && xz -T2 -9e -c .train/node.bin >.train/node.xz && rm .train/node.bin; fi
cp -r node_modules/friendly-words node_modules/an-array-of-english-words .train/node_modules/
npx esbuild training/gen-tasks.ts --bundle --platform=node --format=esm --outfile=.train/gen-tasks.mjs \
  --external:friendly-words --external:an-array-of-english-words --log-level=warning
# the tokenizer runs in a worker thread loaded by URL beside the bundle (src/checkpoint/tokenizer.ts),
# as text-worker.js, an ES module by the folder's package type
npx esbuild src/checkpoint/text-worker.ts --bundle --platform=node --format=esm --outfile=.train/text-worker.js --log-level=warning \
  --banner:js="import { createRequire as __wfCreateRequire } from 'node:module'; const require = __wfCreateRequire(import.meta.url);"
echo '{"type": "module"}' >.train/package.json
tar cJf .train/node_modules.tar.xz -C .train node_modules
tar cJf .train/corpus.tar.xz -C training/data/corpus .
du -sh .train/*
