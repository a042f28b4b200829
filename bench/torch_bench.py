#!/usr/bin/env python3
"""The published stack as a baseline: PyTorch eager with torchvision's test transform.

Reads the same image files as the Go benchmark, decodes each with PIL, applies
Resize((224, 224)), ToTensor and Normalize, batches them and runs the same architecture
(training/export_model.py's build, same seed) under torch.no_grad(). Prints one JSON object.
"""
import argparse
import json
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from export_model import build  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet101")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="batches run before timing")
    p.add_argument("files", nargs="+")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a.arch).eval()
    tf = T.Compose([T.Resize((224, 224)), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    def run(files):
        with torch.no_grad():
            for i in range(0, len(files), a.batch):
                x = torch.stack([tf(Image.open(f).convert("RGB")) for f in files[i:i + a.batch]])
                model(x)

    run(a.files[:a.batch * a.warmup])
    start = time.perf_counter()
    run(a.files)
    elapsed = time.perf_counter() - start
    print(json.dumps({"images": len(a.files), "seconds": elapsed,
                      "img_per_s": len(a.files) / elapsed, "threads": a.threads,
                      "batch": a.batch, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
