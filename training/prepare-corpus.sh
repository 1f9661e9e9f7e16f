#!/usr/bin/env bash
# Stage 1 (runs on a CPU machine with Debian packages): installs the public-domain corpora of
# docs/long-context-benchmarks.md §6 and writes them as plain UTF-8 text under training/data/corpus/.
# The text is never committed (training/data/ is ignored); the GPU run carries it.
# Usage: bash training/prepare-corpus.sh   (needs root for apt-get, or the packages already installed)
set -euo pipefail
cd "$(dirname "$0")"
out=data/corpus
mkdir -p "$out"
pkgs="jargon-text dict-devil bible-kjv sword-text-web diatheke"
if ! dpkg -s $pkgs >/dev/null 2>&1; then apt-get update && apt-get install -y $pkgs; fi
# Jargon File 4.4.7 and The Devil's Dictionary: gzip / dictzip (gzip-compatible) text.
zcat /usr/share/doc/jargon-text/jargon.txt.gz >"$out/jargon.txt"
zcat /usr/share/dictd/devil.dict.dz | grep -v '^00-database' >"$out/devil.txt"
# King James Bible: "Book N" headers and "  v text" lines; keep the verse text, one chapter per paragraph.
bible "Gen1:1-Rev22:21" | awk '/^[A-Z0-9].* [0-9]+$/ {print ""; next} {sub(/^ *[0-9]+ /, ""); printf "%s ", $0}' | sed 's/  */ /g' >"$out/kjv.txt"
# World English Bible 2015: drop the "Book c:v:" prefixes.
diatheke -b engWEB2015eb -f plain -k "Genesis 1:1-Revelation 22:21" | sed -E 's/^[1-4]? ?[A-Za-z ]+ [0-9]+:[0-9]+: ?//' | grep -v '^(engWEB2015eb)' >"$out/web.txt"
wc -wc "$out"/*.txt
