"""safetensors in numpy, for the training programs: the float32 shards a training run returns
(written by train.py and init-from-model.py, read by export.py and by train.py's --init) and the
float16 export's header and tensors (init-from-model.py)."""
import json
import os
import struct

import numpy as np

NUMPY_DTYPE = {"F32": "<f4", "F16": "<f2"}


def read_safetensors(path, dtype):
    """name -> array of one file whose tensors must all be of `dtype` ("F32" or "F16")."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != dtype:
            raise SystemExit(f"{path}: {k}: expected {dtype}, found {v['dtype']}")
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(data[s:e], dtype=NUMPY_DTYPE[dtype]).reshape(v["shape"])
    return out


def read_shards(d):
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    out = {}
    for fn in sorted(set(index["weight_map"].values())):
        out.update(read_safetensors(os.path.join(d, fn), "F32"))
    return out


def write_shards(tensors, out, files=4):
    """float32 safetensors shards (each under 16 MiB, the GPU machine's return limit), in the dict's
    order; returns the index (model.safetensors.index.json)."""
    tensors = {k: np.ascontiguousarray(v, dtype="<f4") for k, v in tensors.items()}
    total = sum(t.nbytes for t in tensors.values())
    per = total / files
    groups, cur, size = [], [], 0
    for n in tensors:
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
                f.write(tensors[n].tobytes())
    return {"metadata": {"total_size": total}, "weight_map": weight_map}
