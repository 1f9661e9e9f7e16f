"""The held-out samples train.py decodes to measure progress, apart from train.py so that they can be
made and checked without PyTorch. Collecting them beside the training feed's 14 generators took 153 s
of run 7b's 498 (training/runs/2026-12-07-run7b). So train.py reads them from its checkpoint folder
when a run on the same machine made them, and otherwise collects them in the background while it
trains (the first evaluation then comes when they are ready, not at step 0).

    python3 training/evalset.py --gen .train/gen-tasks.mjs --tok models/llada-ruler-12m --corpus DIR --out DIR

collects them into DIR/eval-KEY.pkl (to check the generator without a GPU). KEY hashes the options,
the generator bundle and the tokenizer, so a changed one collects anew.
"""
import argparse
import hashlib
import json
import os
import pickle
import struct
import subprocess
import sys
from types import SimpleNamespace

import numpy as np

# family indices of gen-tasks.ts's frames: the RULER tasks, then qa_synth, ask and ask_unseen
TASK_NAMES = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2", "qa_synth", "ask", "ask_unseen"]
EVAL_TASKS = "niah_single_1,niah_single_3,niah_multikey_1,niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe,ask,ask_unseen"
EVAL_LENGTHS = "2048,4096"
EVAL_PER_TASK = 32


class EvalSet:
    """Held-out task samples for a progress check during training: a dedicated generator restricted to
    the evaluated families, a fixed seed per length (the same set in every run, so runs are comparable;
    >= 1,000,000 like every training seed, never the benchmark's 42), never fed to the optimiser."""

    def __init__(self, node, gen, tok, corpus, L, tasks, per_task, seed):
        env = dict(os.environ, WF_TASK_WEIGHTS=",".join(f"{t}={1 if t in tasks else 0}" for t in TASK_NAMES))
        # the held-out questions keep the generator's default distractors and wordings whatever a run
        # trains with (runs 15-17 left WF_ASK_FREE in, so their "ask" check had free frames in half its
        # needles and questions: that column is not comparable with earlier runs'; ask_unseen is)
        for k in ("WF_ASK_SAME_KIND", "WF_ASK_WIDE", "WF_ASK_FREE", "WF_ASK_QFIRST"):
            env.pop(k, None)
        self.p = subprocess.Popen([node, gen, "--tokenizer", tok, "--corpus", corpus, "--length", str(L), "--seed", str(seed)], stdout=subprocess.PIPE, stderr=sys.stderr, env=env, bufsize=1 << 20)
        self.L, self.rows, self.need = L, [], {t: per_task for t in tasks}

    def collect(self):
        p, need = self.p, self.need
        while any(need.values()):
            task, gen_len, pl, al = struct.unpack("<4i", p.stdout.read(16))
            ids = np.frombuffer(p.stdout.read(2 * (pl + al)), dtype=np.uint16).astype(np.int64)
            name = TASK_NAMES[task]
            if need.get(name, 0) > 0:
                need[name] -= 1
                self.rows.append((name, gen_len, ids[:pl], ids[pl:]))
        p.kill()
        return self


def cache_key(gen, tok_dir, tasks, lengths, per_task):
    h = hashlib.sha256(json.dumps([tasks, lengths, per_task]).encode())
    for f in [gen, os.path.join(tok_dir, "tokenizer.json")]:
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def cache_path(gen, tok_dir, tasks, lengths, per_task, cache_dir):
    return os.path.join(cache_dir, f"eval-{cache_key(gen, tok_dir, tasks, lengths, per_task)}.pkl")


def cached(path):
    """The sets (objects with .L and .rows) a run on this machine collected into `path`, or None."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return [SimpleNamespace(L=L, rows=[(n, g, np.frombuffer(p, dtype=np.int64).copy(), np.frombuffer(a, dtype=np.int64).copy()) for n, g, p, a in rows]) for L, rows in pickle.load(f)]


def collect(node, gen, tok_dir, corpus, tasks, lengths, per_task, path):
    """Collects the sets (one generator per length, started together, then read) and writes them
    to `path` (cache_path)."""
    # ask_unseen from a generator of its own (its own seed), so that adding it left the draws of the
    # other families, and runs 4-12's figures, unchanged
    main = [t for t in tasks.split(",") if t != "ask_unseen"]
    extra = [t for t in tasks.split(",") if t == "ask_unseen"]
    sets = [EvalSet(node, gen, tok_dir, corpus, int(L), main, per_task, 900_000_000 + int(L)) for L in lengths.split(",") if L]
    more = [EvalSet(node, gen, tok_dir, corpus, int(L), extra, per_task, 950_000_000 + int(L)) for L in lengths.split(",") if L and extra]
    sets = [es.collect() for es in sets]
    for es, ex in zip(sets, [m.collect() for m in more]):
        es.rows.extend(ex.rows)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        # plain bytes, not numpy objects: a pickle of numpy 2 arrays does not load under numpy 1
        pickle.dump([(es.L, [(n, g, p.astype(np.int64).tobytes(), a.astype(np.int64).tobytes()) for n, g, p, a in es.rows]) for es in sets], f)
    os.replace(path + ".tmp", path)
    return sets


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="collect train.py's held-out samples into OUT/eval-KEY.pkl")
    ap.add_argument("--node", default="node")
    ap.add_argument("--gen", required=True, help="bundled gen-tasks.mjs")
    ap.add_argument("--tok", required=True, help="folder with tokenizer.json")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval-tasks", default=EVAL_TASKS)
    ap.add_argument("--eval-lengths", default=EVAL_LENGTHS)
    ap.add_argument("--eval-per-task", type=int, default=EVAL_PER_TASK)
    a = ap.parse_args()
    path = cache_path(a.gen, a.tok, a.eval_tasks, a.eval_lengths, a.eval_per_task, a.out)
    sets = cached(path) or collect(a.node, a.gen, a.tok, a.corpus, a.eval_tasks, a.eval_lengths, a.eval_per_task, path)
    print(json.dumps({"out": path, "rows": {es.L: len(es.rows) for es in sets}}))
