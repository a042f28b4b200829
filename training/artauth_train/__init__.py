"""Training, calibration and export of artauth's per-artist binary classifiers.

The entry point is training/train.py; this package holds its parts:

- data: the data manifest (every file with its SHA-256, label and group) and the deterministic,
  seeded, sorted 70/20/10 split per class;
- model: torchvision ResNets with the published head, BatchNorm folding and float16 weight
  rounding;
- calibrate: temperature scaling and the validation-split threshold;
- onnxio: ONNX export with a dynamic batch axis and metadata inside the file.
"""
