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


def read_shards(d):
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    out = {}
    for fn in sorted(set(index["weight_map"].values())):
        with open(os.path.join(d, fn), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            data = f.read()
        for k, v in header.items():
            if k == "__metadata__":
                continue
            if v["dtype"] != "F32":
                raise SystemExit(f"{fn}: {k}: expected F32, found {v['dtype']}")
            s, e = v["data_offsets"]
            out[k] = np.frombuffer(data[s:e], dtype="<f4").reshape(v["shape"])
    return out


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
    for f in ["tokenizer.json", "tokenizer_config.json", "train-log.jsonl", "probe.json"]:
        shutil.copy(os.path.join(a.run, f), os.path.join(a.out, f))
    n = sum(t.size for t in tensors.values())
    print(json.dumps({"parameters": n, "bytes": os.path.getsize(os.path.join(a.out, "model.safetensors"))}))


if __name__ == "__main__":
    main()
