"""Makes a --init folder for train.py from an exported model folder, so training can continue from the
bundled weights on a fresh GPU machine: float16 model.safetensors -> float32 safetensors shards + index,
and meta.tar (config.json, index, train-state.json, train-log.jsonl, probe.json, tokenizer files) in the
layout a GPU run returns. The float16 rounding of the export is the only difference from the run's own
float32 weights (Adam moments restart, as on any fresh machine; train.py warms up again).

Usage: python3 training/init-from-model.py --model models/llada-ruler-12m --out .train/init
"""
import argparse
import io
import json
import os
import struct
import tarfile

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F16":
            raise SystemExit(f"{path}: {k}: expected F16, found {v['dtype']}")
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(data[s:e], dtype="<f2").reshape(v["shape"]).astype("<f4")
    return out


def write_shards(tensors, out, files=4):
    names = sorted(tensors)
    per = sum(t.nbytes for t in tensors.values()) / files
    groups, cur, size = [], [], 0
    for n in names:
        cur.append(n)
        size += tensors[n].nbytes
        if size >= per and len(groups) < files - 1:
            groups.append(cur)
            cur, size = [], 0
    if cur:
        groups.append(cur)
    weight_map = {}
    for i, group in enumerate(groups):
        fn = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        header, offset = {}, 0
        for n in group:
            header[n] = {"dtype": "F32", "shape": list(tensors[n].shape), "data_offsets": [offset, offset + tensors[n].nbytes]}
            offset += tensors[n].nbytes
            weight_map[n] = fn
        h = json.dumps(header).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(out, fn), "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for n in group:
                f.write(np.ascontiguousarray(tensors[n]).tobytes())
    return {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())}, "weight_map": weight_map}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    state = os.path.join(a.model, "train-state.json")
    if not os.path.exists(state):
        raise SystemExit(f"{state}: missing (the step, run and curriculum level the weights were saved at)")
    os.makedirs(a.out, exist_ok=True)
    # replaces an earlier init in --out, and nothing else that may be there
    for f in os.listdir(a.out):
        if f == "meta.tar" or (f.startswith("model-") and f.endswith(".safetensors")):
            os.remove(os.path.join(a.out, f))
    index = write_shards(read_safetensors(os.path.join(a.model, "model.safetensors")), a.out)
    with tarfile.open(os.path.join(a.out, "meta.tar"), "w") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("model.safetensors.index.json", json.dumps(index).encode())
        for f in ["config.json", "train-state.json", "train-log.jsonl", "probe.json", "tokenizer.json", "tokenizer_config.json"]:
            add(f, open(os.path.join(a.model, f), "rb").read())
    print(json.dumps({"out": a.out, "files": sorted(os.listdir(a.out))}))


if __name__ == "__main__":
    main()
