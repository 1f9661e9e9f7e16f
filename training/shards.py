"""Reads the float32 safetensors shards a training run returns (numpy only; used by export.py and
by train.py's --init)."""
import json
import os
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
