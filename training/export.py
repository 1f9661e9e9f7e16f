"""Stage 4: exports a training run to the layout the engine loads (runs anywhere with numpy).

Input: the files a GPU run returns (float32 safetensors shards + index, config.json, tokenizer.json,
tokenizer_config.json, train-log.jsonl, probe.json). Output, in --out: config.json, model.safetensors
(float16, one file), tokenizer.json, tokenizer_config.json, generation_config.json, train-log.jsonl and
probe.json (PyTorch logits for the engine's parity test).

Usage: python3 training/export.py --run DIR --out models/NAME
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

from shards import read_shards


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].astype("<f2"))
        if not np.isfinite(a).all():
            raise SystemExit(f"{k}: not finite in float16")
        b = a.tobytes()
        header[k] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tensors = read_shards(a.run)
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors)
    cfg = json.load(open(os.path.join(a.run, "config.json")))
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "pad_token_id": cfg["pad_token_id"], "mask_token_id": cfg["mask_token_id"]}
    json.dump(gen, open(os.path.join(a.out, "generation_config.json"), "w"), indent=2)
    for f in ["tokenizer.json", "tokenizer_config.json", "train-log.jsonl", "probe.json", "train-state.json"]:
        shutil.copy(os.path.join(a.run, f), os.path.join(a.out, f))
    n = sum(t.size for t in tensors.values())
    print(json.dumps({"parameters": n, "bytes": os.path.getsize(os.path.join(a.out, "model.safetensors"))}))


if __name__ == "__main__":
    main()
