#!/usr/bin/env python3
"""Export a per-artist binary classifier to ONNX with the metadata file the workers read.

The graph is torchvision's ResNet with the published head (Dropout(0.3) then Linear(features, 1)),
or a tiny CNN with the same input and output for fast tests. Weights are random but seeded, so the
same arguments always give the same file: such a model is UNTRAINED and its scores mean nothing.
Training lives beside this file once the recipe lands; this script only exports.

Run with Debian's interpreter, which has python3-torch and python3-torchvision:
    /usr/bin/python3 training/export_model.py --arch resnet101 --seed 0 --artist monet \
        --version 0.0.0-untrained --out /tmp/models/monet/0.0.0-untrained
"""
import argparse
import datetime
import hashlib
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision

from artauth_train.data import sha256_file
from artauth_train.model import Tiny

SCHEMA = "artauth.model/v1"
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def build(arch):
    if arch == "tiny":
        return Tiny()
    ctor = getattr(torchvision.models, arch, None)
    if ctor is None or not arch.startswith("resnet"):
        sys.exit(f"export_model: unknown --arch {arch!r} (want tiny or a torchvision resnet)")
    # Untrained weights as torchvision initialises them make a 101-layer network's activations
    # explode in eval mode (logits near -1e4, every score 0), which would hide any mistake in
    # the serving path. Zero-initialised residual branches and a scaled head keep the logits
    # near [-3, 3], so scores differ from image to image.
    model = ctor(weights=None, zero_init_residual=True)
    head = nn.Linear(model.fc.in_features, 1)
    with torch.no_grad():
        head.weight.mul_(40)
        head.bias.zero_()
    model.fc = nn.Sequential(nn.Dropout(0.3), head)
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet101")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--artist", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--out", required=True, help="directory for model.onnx and model.json")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    model = build(a.arch).eval()
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    dummy = torch.zeros(1, 3, a.size, a.size)
    torch.onnx.export(
        model, dummy, onnx_path, opset_version=a.opset,
        input_names=["image"], output_names=["logit"],
        dynamic_axes={"image": {0: "batch"}, "logit": {0: "batch"}},
    )
    meta = {
        "schema": SCHEMA,
        "artist": a.artist,
        "version": a.version,
        "arch": a.arch,
        "trained": False,
        "seed": a.seed,
        "sha256": sha256_file(onnx_path),
        "threshold": a.threshold,
        "input": {"name": "image", "shape": [-1, 3, a.size, a.size], "dtype": "float32"},
        "output": {"name": "logit", "shape": [-1, 1], "dtype": "float32"},
        "preprocessing": {
            "resize": [a.size, a.size], "interpolation": "bilinear", "antialias": True,
            "color": "RGB", "scale": 1 / 255, "mean": MEAN, "std": STD, "layout": "NCHW",
        },
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "exporter": f"torch {torch.__version__}, torchvision {torchvision.__version__}",
        "notes": "random seeded weights: untrained, scores mean nothing",
    }
    with open(os.path.join(a.out, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"exported {a.arch} {a.artist}@{a.version} to {onnx_path} sha256={meta['sha256']}")


if __name__ == "__main__":
    main()
