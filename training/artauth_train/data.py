"""Data manifest, split and image transforms.

Every image is identified by the SHA-256 of its bytes. The split does not depend on the order
in which the file system lists directories, nor on file names: within each class and sub-folder
(group) files are ordered by SHA-256(f"{seed}:{file sha256}") and cut 70/20/10 (rounded half up
per group), so the same files and seed always give the same split, wherever they are copied.
"""
import csv
import hashlib
import io
import math
import os

from PIL import Image
from torchvision import transforms

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]

# Extensions the Go side (internal/eval, internal/imaging) reads too; keep both lists equal.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif")
LABELS = {1: "positive", 0: "negative"}
PARTS = ("train", "val", "test")
FRACTIONS = {"val": 0.2, "test": 0.1}  # train gets the rest


class DataError(Exception):
    """The image folders cannot be turned into a sound data set."""


class Item:
    """One image: where it is, what it is and which part of the split it belongs to."""

    __slots__ = ("path", "rel", "sha256", "label", "group", "width", "height", "part")

    def __init__(self, path, rel, sha256, label, group, width, height):
        self.path, self.rel, self.sha256 = path, rel, sha256
        self.label, self.group = label, group
        self.width, self.height = width, height
        self.part = ""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_images(root):
    """Image files under root, recursively, sorted by their path relative to root."""
    if not os.path.isdir(root):
        raise DataError(f"image folder {root!r} does not exist or is not a directory")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(IMAGE_EXTS):
                continue
            full = os.path.join(dirpath, name)
            found.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    found.sort()
    return found


def scan(positive_dirs, negative_dirs, log=print):
    """Lists, hashes and sizes every image; returns Items sorted by recorded path.

    The recorded path is <folder name>/<path inside the folder>; the group is the first
    sub-folder inside the folder, or the folder's own name for files directly inside it.
    The same bytes under two labels are an error; the same bytes twice under one label are
    kept once, so that no image can be in two parts of the split.
    """
    items, seen = [], {}
    for label, dirs in ((1, positive_dirs), (0, negative_dirs)):
        for d in dirs:
            base = os.path.basename(os.path.normpath(d))
            files = list_images(d)
            if not files:
                raise DataError(f"image folder {d!r} holds no images ({', '.join(IMAGE_EXTS)})")
            for rel, full in files:
                parts = rel.split("/")
                group = parts[0] if len(parts) > 1 else base
                digest = sha256_file(full)
                if digest in seen:
                    other = seen[digest]
                    if other.label != label:
                        raise DataError(
                            f"{full} and {other.path} are the same image (sha256 {digest}) "
                            f"but labelled {LABELS[label]} and {LABELS[other.label]}")
                    log(f"data: {full} duplicates {other.path} (sha256 {digest[:12]}): kept once")
                    continue
                with Image.open(full) as im:
                    w, h = im.size
                it = Item(full, f"{base}/{rel}", digest, label, group, w, h)
                seen[digest] = it
                items.append(it)
    items.sort(key=lambda it: it.rel)
    return items


def _split_key(seed, digest):
    return hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()


def assign_split(items, seed):
    """Sets item.part: 70/20/10 per class, stratified by group, rounded half up per group."""
    groups = {}
    for it in items:
        groups.setdefault((it.label, it.group), []).append(it)
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda it: _split_key(seed, it.sha256))
        n = len(members)
        n_test = math.floor(n * FRACTIONS["test"] + 0.5)
        n_val = math.floor(n * FRACTIONS["val"] + 0.5)
        for i, it in enumerate(members):
            it.part = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    for label in (1, 0):
        for part in ("train", "val"):
            if not any(it.label == label and it.part == part for it in items):
                raise DataError(
                    f"the {part} split has no {LABELS[label]} image: give at least 3 images "
                    f"per class (better dozens) so that train and val both get some")


def write_manifest(items, path):
    """data_manifest.csv: path, sha256, label, group, width, height; sorted by path."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "sha256", "label", "group", "width", "height"])
        for it in items:
            w.writerow([it.rel, it.sha256, LABELS[it.label], it.group, it.width, it.height])
    return sha256_file(path)


def write_split(items, path):
    """split.csv: path, sha256, label, group, part; sorted by path. internal/eval reads it."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "sha256", "label", "group", "part"])
        for it in items:
            w.writerow([it.rel, it.sha256, LABELS[it.label], it.group, it.part])
    return sha256_file(path)


def counts(items):
    """{part: {label: {group: n}}} for reports."""
    out = {}
    for it in items:
        g = out.setdefault(it.part, {}).setdefault(LABELS[it.label], {})
        g[it.group] = g.get(it.group, 0) + 1
    return out


def load_rgb(path):
    """Opens an image as torchvision's default loader does: PIL, then convert('RGB')."""
    with open(path, "rb") as f:
        im = Image.open(f)
        return im.convert("RGB")


def resize(img, size):
    """The first step of the test transform: Resize((size, size)), bilinear with antialias."""
    return transforms.Resize((size, size))(img)


def to_normalized_tensor():
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def test_transform(size):
    """The serving transform, which internal/imaging reproduces bit for bit for JPEG."""
    return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                               transforms.Normalize(MEAN, STD)])


def train_augmentation(size):
    """The published augmentation after the resize: rotation, random resized crop, colour
    jitter, horizontal flip. The parameters were not published; these are moderate ones."""
    return transforms.Compose([
        transforms.RandomRotation(15),
        transforms.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(0.9, 1.1)),
        transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def common_form(img, side=256, quality=90):
    """The shared data set's look: a central square crop resized to side×side and stored as
    JPEG at the given quality. Training sees every image both as it is and in this form, so
    that resolution, aspect ratio and JPEG artefacts (which correlate with the class in the
    shared set, see its MANIFEST) stop predicting the label."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    sq = img.crop((left, top, left + s, top + s))
    if sq.size != (side, side):
        sq = sq.resize((side, side), Image.BILINEAR)
    buf = io.BytesIO()
    sq.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
