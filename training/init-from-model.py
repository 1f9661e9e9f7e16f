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
import tarfile

from shards import read_safetensors, write_shards


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
    # sorted names, the export's order
    tensors = read_safetensors(os.path.join(a.model, "model.safetensors"), "F16")
    index = write_shards({k: tensors[k].astype("<f4") for k in sorted(tensors)}, a.out)
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
