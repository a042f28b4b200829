#!/usr/bin/env python3
"""Probabilities of the published stack for parity tests: PIL decode, torchvision's test
transform and PyTorch eager on the model training/export_model.py builds with the same seed.

Usage: torch_probs.py ARCH SEED FILE... ; prints {"probs": [...]} in the order of the files.
"""
import json
import os
import sys

import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "training"))
from export_model import build  # noqa: E402

arch, seed, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
torch.set_num_threads(2)
torch.manual_seed(seed)
model = build(arch).eval()
tf = T.Compose([T.Resize((224, 224)), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
with torch.no_grad():
    x = torch.stack([tf(Image.open(f).convert("RGB")) for f in files])
    probs = torch.sigmoid(model(x)).flatten().tolist()
print(json.dumps({"probs": probs}))
