#!/usr/bin/env python3
"""Train a per-artist binary classifier ("Monet or not Monet?") from folders of images and
export it for the Go workers: model.onnx (metadata inside), model.json, the data manifest and
split, golden vectors and a training report, all in one model version directory.

    /usr/bin/python3 training/train.py --artist monet --version 1.0.0 \
        --positive DATA/monet --negative DATA/other_artists \
        --pretrained resnet101-63fe2227.pth --out models/monet/1.0.0

--mode corrected (default) is the published method with its flaws fixed: validation images
get the clean test transform, the kept epoch is the one with the lowest validation loss, the
decision threshold is set on the validation split for a stated false-positive rate
(--target-fpr), a temperature calibrates the probability and is baked into the exported
logit, and training images are shown half the time in a common form (centre square,
256×256, JPEG) so that resolution and compression cannot stand in for style. --mode faithful
is the published recipe as written: augmented validation images, epoch kept by validation F1
at 0.5, threshold 0.5, no calibration. Both use the deterministic split (artauth_train/data.py).

Runs on the CPU, or unchanged on CUDA when torch sees a GPU (--device auto). Nothing is
downloaded: without --pretrained the network starts from random weights. See
training/README.md.
"""
import argparse
import copy
import datetime
import json
import os
import platform
import shutil
import sys
import time

import torch
import torch.nn as nn
import torchvision

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from artauth_train import calibrate, data, model as mdl, onnxio  # noqa: E402

SCHEMA = "artauth.model/v1"
GOLDEN_SCHEMA = "artauth.golden/v1"
REPORT_SCHEMA = "artauth.train-report/v1"


class Log:
    def __init__(self):
        self.t0 = time.time()

    def __call__(self, msg):
        print(f"[{time.time() - self.t0:7.1f}s] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artist", required=True, help="artist slug, e.g. monet")
    p.add_argument("--version", required=True, help="model version, e.g. 1.0.0")
    p.add_argument("--positive", action="append", required=True, metavar="DIR",
                   help="folder of the artist's images (repeatable; searched recursively)")
    p.add_argument("--negative", action="append", required=True, metavar="DIR",
                   help="folder of other artists' images (repeatable; sub-folders are groups)")
    p.add_argument("--out", required=True, help="model version directory to create")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--mode", choices=("corrected", "faithful"), default="corrected")
    p.add_argument("--arch", default="resnet101",
                   help="resnet18|34|50|101|152 or tiny (tests only); default resnet101")
    p.add_argument("--pretrained", metavar="PATH",
                   help="ImageNet weights for --arch (a torchvision state dict file)")
    p.add_argument("--size", type=int, default=224, help="input height and width")
    p.add_argument("--epochs", type=int, default=30, help="most epochs (published: 30)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
    p.add_argument("--lr-patience", type=int, default=3,
                   help="epochs without validation-loss improvement before lr /= 10")
    p.add_argument("--stop-patience", type=int, default=5,
                   help="epochs without validation-F1 improvement before stopping")
    p.add_argument("--select-by", choices=("f1", "loss", "auc"),
                   help="validation metric that picks the kept epoch and drives early "
                        "stopping: f1 (at 0.5, as published; faithful default) or loss "
                        "(corrected default: the threshold is calibrated afterwards, so F1 at "
                        "0.5 measures an operating point the model will not use)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split and the training")
    p.add_argument("--target-fpr", type=float, default=0.05,
                   help="corrected mode: largest validation false-positive rate the "
                        "threshold may give")
    p.add_argument("--threshold", type=float,
                   help="use this threshold instead of the calibrated one (or 0.5)")
    p.add_argument("--common-form-p", type=float, default=0.5,
                   help="corrected mode: probability that a training image is shown in the "
                        "common form (256x256 centre square, JPEG q90); 0 disables")
    p.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                   help="float16 stores weights as float16 initializers cast to float32 at "
                        "load (half the file; PyTorch uses the same rounded weights)")
    p.add_argument("--compare-fp32", metavar="DIR",
                   help="with --weights-dtype float16, also export the unrounded model (same "
                        "temperature and threshold) here, to measure what rounding costs")
    p.add_argument("--golden", type=int, default=4, help="number of golden images (>= 2)")
    p.add_argument("--opset", type=int, default=13)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    p.add_argument("--workers", type=int, default=-1,
                   help="data-loader processes for augmentation (-1: 0 on the CPU, up to 8 "
                        "on CUDA, where one process cannot keep a GPU busy)")
    p.add_argument("--notes", default="", help="free text stored in model.json")
    a = p.parse_args(argv)
    if not 0 <= a.target_fpr < 1:
        p.error(f"--target-fpr {a.target_fpr}: want 0 <= rate < 1")
    if a.threshold is not None and not 0 < a.threshold < 1:
        p.error(f"--threshold {a.threshold}: want 0 < t < 1")
    if a.compare_fp32 and a.weights_dtype != "float16":
        p.error("--compare-fp32 only makes sense with --weights-dtype float16")
    if a.golden < 2:
        p.error("--golden: want at least 2 images")
    if a.select_by is None:
        a.select_by = "f1" if a.mode == "faithful" else "loss"
    return a


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"train: --device {name}: torch sees no CUDA device")
    return dev


class TrainSet(torch.utils.data.Dataset):
    """Cached, resized training images; each access draws a fresh augmentation."""

    def __init__(self, direct, common, labels, aug, common_p):
        self.direct, self.common, self.labels = direct, common, labels
        self.aug, self.common_p = aug, common_p

    def __len__(self):
        return len(self.direct)

    def __getitem__(self, i):
        img = self.direct[i]
        if self.common[i] is not None and torch.rand(1).item() < self.common_p:
            img = self.common[i]
        return self.aug(img), torch.tensor([float(self.labels[i])])


@torch.no_grad()
def predict(net, x, device, batch=64):
    """Logits (floats) of a stacked input tensor."""
    net.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(net(x[i:i + batch].to(device)).float().cpu().reshape(-1))
    return [float(v) for v in torch.cat(out)] if out else []


def bce(logits, labels):
    return calibrate.nll(logits, labels)


def train(a, net, train_set, val_x, val_imgs, val_labels, device, log):
    """The published loop: BCE-with-logits, Adam, lr / 10 after lr_patience epochs without
    validation-loss improvement (ReduceLROnPlateau), stop after stop_patience epochs without
    improvement of the --select-by metric, keep the best epoch's weights. For f1 and auc an
    equal value with a lower validation loss counts as an improvement."""
    g = torch.Generator()
    g.manual_seed(a.seed)
    workers = a.workers
    if workers < 0:
        workers = 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)
    loader = torch.utils.data.DataLoader(train_set, batch_size=a.batch_size, shuffle=True,
                                         generator=g, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1,
                                                       patience=a.lr_patience)
    loss_fn = nn.BCEWithLogitsLoss()
    aug = data.train_augmentation(a.size)
    history, best, best_state, stale = [], None, None, 0
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        net.train()
        total, n = 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            n += len(x)
        if a.mode == "faithful":
            # As published: validation images go through the random training augmentation.
            vx = torch.stack([aug(img) for img in val_imgs])
        else:
            vx = val_x
        logits = predict(net, vx, device)
        vloss = bce(logits, val_labels)
        m = calibrate.metrics([calibrate.sigmoid(z) for z in logits], val_labels, 0.5)
        vauc = calibrate.auc([calibrate.sigmoid(z) for z in logits], val_labels)
        lr = opt.param_groups[0]["lr"]
        sched.step(vloss)
        key = {"f1": (m["f1"], -vloss), "loss": (-vloss,), "auc": (vauc, -vloss)}[a.select_by]
        improved = best is None or key > best[0]
        if improved:
            best, best_state, stale = (key, epoch), copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
        row = {"epoch": epoch, "lr": lr, "train_loss": total / max(n, 1), "val_loss": vloss,
               "val_accuracy": m["accuracy"], "val_f1": m["f1"], "val_auc": vauc,
               "seconds": time.time() - t0}
        history.append(row)
        log(f"epoch {epoch:2d}  lr {lr:.0e}  train loss {row['train_loss']:.4f}  "
            f"val loss {vloss:.4f}  val acc {m['accuracy']:.3f}  val F1 {m['f1']:.3f}  "
            f"val AUC {vauc:.3f}  ({row['seconds']:.0f}s){'  *' if improved else ''}")
        if stale >= a.stop_patience:
            log(f"early stop: no validation-{a.select_by} improvement for {stale} epochs")
            break
    net.load_state_dict(best_state)
    return history, best[1]


def pick_golden(items, n):
    """n test-split images (val if test is empty): half positives, half negatives, in split
    order (sorted by SHA-256), plus the largest negative so that the big-image resize path is
    covered; files over 1 MB are skipped."""
    for part in ("test", "val"):
        pool = [it for it in items if it.part == part and os.path.getsize(it.path) <= 1 << 20]
        pos = sorted((it for it in pool if it.label == 1), key=lambda it: it.sha256)
        neg = sorted((it for it in pool if it.label == 0), key=lambda it: it.sha256)
        if pos and neg:
            break
    chosen = pos[:n - n // 2] + neg[:n // 2]
    if neg:
        big = max(neg, key=lambda it: (it.width * it.height, it.sha256))
        if big not in chosen:
            chosen[-1] = big
    return chosen


def model_json(a, sha, threshold, extra):
    meta = {
        "schema": SCHEMA,
        "artist": a.artist,
        "version": a.version,
        "arch": a.arch,
        "trained": True,
        "seed": a.seed,
        "sha256": sha,
        "threshold": threshold,
        "input": {"name": "image", "shape": [-1, 3, a.size, a.size], "dtype": "float32"},
        "output": {"name": "logit", "shape": [-1, 1], "dtype": "float32"},
        "preprocessing": {
            "resize": [a.size, a.size], "interpolation": "bilinear", "antialias": True,
            "color": "RGB", "scale": 1 / 255, "mean": data.MEAN, "std": data.STD,
            "layout": "NCHW",
        },
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "exporter": f"torch {torch.__version__}, torchvision {torchvision.__version__}",
        "notes": a.notes or f"trained with training/train.py --mode {a.mode}",
    }
    meta.update(extra)
    return meta


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_model_dir(a, out, serving, threshold, extra, log):
    """model.onnx with metadata_props, then model.json with its SHA-256."""
    props = {
        "artauth.schema": SCHEMA,
        "artist": a.artist,
        "version": a.version,
        "arch": a.arch,
        "threshold": repr(threshold),
        "decision": "artist when sigmoid(logit) > threshold",
        "input": json.dumps({"name": "image", "shape": [-1, 3, a.size, a.size],
                             "dtype": "float32"}),
        "output": json.dumps({"name": "logit", "shape": [-1, 1], "dtype": "float32"}),
        "preprocessing": json.dumps({
            "resize": [a.size, a.size], "interpolation": "bilinear", "antialias": True,
            "color": "RGB", "scale": 1 / 255, "mean": data.MEAN, "std": data.STD,
            "layout": "NCHW"}),
        "calibration": json.dumps(extra["calibration"], sort_keys=True),
        "data_manifest_sha256": extra["data_manifest"]["sha256"],
        "split_sha256": extra["split"]["sha256"],
        "validation_metrics": json.dumps(extra["validation"], sort_keys=True),
        "training": json.dumps(extra["training"], sort_keys=True),
        "weights": extra["weights"],
    }
    path = os.path.join(out, "model.onnx")
    onnxio.export(serving, a.size, path, a.opset, props, a.weights_dtype == "float16")
    log(f"export: {path} ({os.path.getsize(path) / 1e6:.1f} MB); "
        f"{onnxio.check_with_onnx(path, props)}")
    sha = data.sha256_file(path)
    write_json(os.path.join(out, "model.json"), model_json(a, sha, threshold, extra))
    return sha


def main(argv=None):
    a = parse_args(argv)
    work = os.path.abspath(a.out) + ".partial"
    try:
        run(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(a, work):
    log = Log()
    started = time.time()
    torch.manual_seed(a.seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    device = pick_device(a.device)
    log(f"train: {a.artist}@{a.version} mode {a.mode} arch {a.arch} size {a.size} on {device} "
        f"({threads} CPU threads), torch {torch.__version__}")

    out = os.path.abspath(a.out)
    if os.path.exists(out) and not a.force:
        sys.exit(f"train: {out} exists; pass --force to replace it")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # Data: manifest, split, cached resized images.
    try:
        items = data.scan(a.positive, a.negative, log)
        data.assign_split(items, a.seed)
    except data.DataError as e:
        sys.exit(f"train: {e}")
    manifest_sha = data.write_manifest(items, os.path.join(work, "data_manifest.csv"))
    split_sha = data.write_split(items, os.path.join(work, "split.csv"))
    counts = data.counts(items)
    for part in data.PARTS:
        c = counts.get(part, {})
        log(f"split {part:5s}: " + ", ".join(
            f"{lab} {sum(g.values())}" for lab, g in sorted(c.items())))

    t_load = time.time()
    tr = [it for it in items if it.part == "train"]
    va = [it for it in items if it.part == "val"]
    common_p = a.common_form_p if a.mode == "corrected" else 0.0
    direct, common = [], []
    for it in tr:
        img = data.load_rgb(it.path)
        direct.append(data.resize(img, a.size))
        common.append(data.resize(data.common_form(img), a.size) if common_p > 0 else None)
    to_t = data.to_normalized_tensor()
    val_imgs = [data.resize(data.load_rgb(it.path), a.size) for it in va]
    val_x = torch.stack([to_t(img) for img in val_imgs])
    val_y = [it.label for it in va]
    load_s = time.time() - t_load
    log(f"data: {len(tr)} training and {len(va)} validation images loaded in {load_s:.1f}s")

    # Model and training.
    try:
        net = mdl.build(a.arch, a.pretrained, log).to(device)
    except ValueError as e:
        sys.exit(f"train: {e}")
    t_train = time.time()
    train_set = TrainSet(direct, common, [it.label for it in tr],
                         data.train_augmentation(a.size), common_p)
    history, best_epoch = train(a, net, train_set, val_x, val_imgs, val_y, device, log)
    train_s = time.time() - t_train
    log(f"training: {len(history)} epochs in {train_s:.0f}s, best epoch {best_epoch}")

    # Fold BatchNorm, round weights, calibrate: everything below uses the exported weights.
    net = mdl.fuse_batchnorm(net.cpu().eval())
    logits32 = predict(net, val_x, torch.device("cpu"))
    fp32_net = copy.deepcopy(net) if a.compare_fp32 else None
    fp16 = {}
    if a.weights_dtype == "float16":
        fp16["max_abs_weight_change"] = mdl.round_weights_fp16(net)
    logits = predict(net, val_x, torch.device("cpu"))
    if a.weights_dtype == "float16":
        fp16["val_max_abs_logit_change"] = max(
            (abs(x - y) for x, y in zip(logits, logits32)), default=0.0)

    if a.mode == "corrected":
        temperature = calibrate.fit_temperature(logits, val_y)
        threshold = calibrate.threshold_for_fpr(logits, val_y, a.target_fpr, temperature)
        rule = {"metric": "false_positive_rate", "target": a.target_fpr, "split": "val"}
    else:
        temperature, threshold, rule = 1.0, 0.5, {"metric": "published", "target": 0.5}
    if a.threshold is not None:
        threshold, rule = a.threshold, {"metric": "operator", "target": a.threshold}
    probs = [calibrate.sigmoid(z / temperature) for z in logits]
    val_m = calibrate.metrics(probs, val_y, threshold)
    val_m["auc"] = calibrate.auc(probs, val_y)
    val_m["nll"] = calibrate.nll(logits, val_y, temperature)
    val_m["ece"] = calibrate.ece(probs, val_y)
    raw_probs = [calibrate.sigmoid(z) for z in logits]
    calib = {"method": "temperature" if a.mode == "corrected" else "none",
             "temperature": temperature, "baked_into_graph": True,
             "threshold_rule": rule,
             "val_nll_before": calibrate.nll(logits, val_y),
             "val_nll_after": val_m["nll"],
             "val_ece_before": calibrate.ece(raw_probs, val_y),
             "val_ece_after": val_m["ece"]}
    if a.weights_dtype == "float16":
        flips = sum(1 for x, y in zip(logits, logits32)
                    if (calibrate.sigmoid(x / temperature) > threshold) !=
                    (calibrate.sigmoid(y / temperature) > threshold))
        fp16["val_decisions_changed"] = flips
    log(f"calibration: temperature {temperature:.4f}, threshold {threshold:.6f} ({rule}); "
        f"val acc {val_m['accuracy']:.4f} precision {val_m['precision']:.4f} "
        f"recall {val_m['recall']:.4f} F1 {val_m['f1']:.4f} FPR {val_m['fpr']:.4f}")

    # Bias probe: do validation decisions change when images are put in the common form?
    probe = {}
    common_x = torch.stack([to_t(data.resize(data.common_form(data.load_rgb(it.path)), a.size))
                            for it in va])
    common_logits = predict(net, common_x, torch.device("cpu"))
    for it, z, zc in zip(va, logits, common_logits):
        kind = "256x256" if (it.width, it.height) == (256, 256) else "other_sizes"
        key = f"{data.LABELS[it.label]}_{kind}"
        p, pc = calibrate.sigmoid(z / temperature), calibrate.sigmoid(zc / temperature)
        r = probe.setdefault(key, {"n": 0, "decisions_changed": 0, "sum_abs_dprob": 0.0})
        r["n"] += 1
        r["decisions_changed"] += int((p > threshold) != (pc > threshold))
        r["sum_abs_dprob"] += abs(p - pc)
    for r in probe.values():
        r["mean_abs_dprob"] = r.pop("sum_abs_dprob") / r["n"]
    log(f"bias probe (val, as-is vs common form): {json.dumps(probe, sort_keys=True)}")

    # Export.
    training = {"mode": a.mode, "select_by": a.select_by, "epochs_run": len(history),
                "best_epoch": best_epoch, "lr_patience": a.lr_patience,
                "stop_patience": a.stop_patience,
                "max_epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr,
                "seed": a.seed, "size": a.size, "common_form_p": common_p,
                "pretrained": (os.path.basename(a.pretrained) + " sha256 " +
                               data.sha256_file(a.pretrained)) if a.pretrained else None,
                "device": str(device), "train_seconds": round(train_s, 1)}
    weights = ("float16 initializers, Cast to float32 (folded by ONNX Runtime at load)"
               if a.weights_dtype == "float16" else "float32")
    extra = {
        "calibration": calib,
        "data_manifest": {"file": "data_manifest.csv", "sha256": manifest_sha},
        "split": {"file": "split.csv", "sha256": split_sha, "seed": a.seed,
                  "fractions": {"train": 0.7, "val": 0.2, "test": 0.1},
                  "counts": counts},
        "validation": {k: val_m[k] for k in ("n", "tp", "fp", "tn", "fn", "accuracy",
                                             "precision", "recall", "f1", "fpr", "auc",
                                             "nll", "ece")},
        "training": training,
        "weights": weights,
        "golden": "golden.json",
    }
    net_export = mdl.half_storage(copy.deepcopy(net)) if a.weights_dtype == "float16" else net
    serving = mdl.Serving(net_export, temperature).eval()
    sha = write_model_dir(a, work, serving, threshold, extra, log)

    # Golden vectors: PyTorch's probabilities for a few held-out images, test transform.
    gold = pick_golden(items, a.golden)
    os.makedirs(os.path.join(work, "golden"))
    tt = data.test_transform(a.size)
    gx = torch.stack([tt(data.load_rgb(it.path)) for it in gold])
    with torch.no_grad():
        glog = serving(gx).reshape(-1).tolist()
    golden = {"schema": GOLDEN_SCHEMA, "model_sha256": sha,
              "computed_by": f"PyTorch {torch.__version__} on the CPU, test transform "
                             f"Resize(({a.size}, {a.size})), ToTensor, Normalize",
              "images": []}
    for it, z in zip(gold, glog):
        name = f"golden/{it.sha256[:16]}{os.path.splitext(it.path)[1].lower()}"
        shutil.copyfile(it.path, os.path.join(work, name))
        golden["images"].append({"file": name, "sha256": it.sha256, "source": it.rel,
                                 "part": it.part, "label": data.LABELS[it.label],
                                 "logit": z, "probability": calibrate.sigmoid(z)})
    write_json(os.path.join(work, "golden.json"), golden)

    if a.compare_fp32:
        cmp_dir = os.path.abspath(a.compare_fp32)
        shutil.rmtree(cmp_dir, ignore_errors=True)
        os.makedirs(cmp_dir)
        cmp_a = copy.copy(a)
        cmp_a.weights_dtype = "float32"
        cmp_a.notes = f"unrounded float32 twin of {a.artist}@{a.version}, for comparison only"
        cmp_extra = {k: v for k, v in extra.items() if k != "golden"}
        cmp_extra["weights"] = "float32"
        write_model_dir(cmp_a, cmp_dir, mdl.Serving(fp32_net, temperature).eval(), threshold,
                        cmp_extra, log)
        shutil.copyfile(os.path.join(work, "split.csv"), os.path.join(cmp_dir, "split.csv"))

    total_s = time.time() - started
    report = {
        "schema": REPORT_SCHEMA,
        "command": [os.path.basename(sys.executable)] + sys.argv,
        "args": vars(a),
        "environment": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                        "python": platform.python_version(), "device": str(device),
                        "threads": threads, "cpu_count": os.cpu_count(),
                        "machine": platform.machine()},
        "model_sha256": sha,
        "counts": counts,
        "history": history,
        "best_epoch": best_epoch,
        "validation": extra["validation"],
        "calibration": calib,
        "fp16": fp16,
        "bias_probe": probe,
        "seconds": {"load": round(load_s, 1), "train": round(train_s, 1),
                    "total": round(total_s, 1),
                    "process_cpu": round(time.process_time(), 1)},
    }
    write_json(os.path.join(work, "train_report.json"), report)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(work, out)
    log(f"done: {a.artist}@{a.version} in {out} (sha256 {sha[:16]}), {total_s:.0f}s in all")


if __name__ == "__main__":
    main()
