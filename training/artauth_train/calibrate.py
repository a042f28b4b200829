"""Temperature scaling, the validation threshold and binary metrics."""
import math


def sigmoid(z):
    """float64 sigmoid of a (float32) logit, as internal/inference.Sigmoid computes it."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def nll(logits, labels, temperature=1.0):
    """Mean binary cross-entropy of sigmoid(logit / T), in float64."""
    total = 0.0
    for z, y in zip(logits, labels):
        z = z / temperature
        # log(1 + exp(-|z|)) + max(z, 0) - y*z, stable for any z
        total += math.log1p(math.exp(-abs(z))) + max(z, 0.0) - y * z
    return total / max(len(logits), 1)


def fit_temperature(logits, labels, lo=0.05, hi=20.0, steps=801):
    """The temperature T in [lo, hi] minimising validation NLL of sigmoid(logit / T), by a
    grid on log T (deterministic; bounded because a separable validation set drives the
    unbounded optimum to T -> 0)."""
    best_t, best = 1.0, nll(logits, labels)
    for i in range(steps):
        t = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (steps - 1))
        v = nll(logits, labels, t)
        if v < best - 1e-12:
            best_t, best = t, v
    return best_t


def threshold_for_fpr(logits, labels, target, temperature=1.0):
    """The decision threshold on sigmoid(logit / T) that catches the most positives while at
    most floor(target × negatives) validation negatives score above it (decision: score >
    threshold). Among the thresholds giving the same validation counts it takes the middle of
    the gap (in logit space), away from every validation score."""
    z = [v / temperature for v in logits]
    neg = sorted((v for v, y in zip(z, labels) if y == 0), reverse=True)
    if not neg:
        raise ValueError("threshold: no negatives in the validation split")
    k = math.floor(target * len(neg) + 1e-9)
    if k >= len(neg):
        lo = min(z) - 1.0
    else:
        lo = neg[k]
    above = [v for v in z if v > lo]
    t = (lo + min(above)) / 2 if above else lo + 1.0
    t = max(-30.0, min(30.0, t))
    return sigmoid(t)


def confusion(probs, labels, threshold):
    tp = sum(1 for p, y in zip(probs, labels) if p > threshold and y == 1)
    fp = sum(1 for p, y in zip(probs, labels) if p > threshold and y == 0)
    fn = sum(1 for p, y in zip(probs, labels) if p <= threshold and y == 1)
    tn = sum(1 for p, y in zip(probs, labels) if p <= threshold and y == 0)
    return tp, fp, tn, fn


def metrics(probs, labels, threshold):
    """Confusion counts and accuracy, precision, recall, F1 of the positive class, FPR."""
    tp, fp, tn, fn = confusion(probs, labels, threshold)
    n = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": threshold, "n": n, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "accuracy": (tp + tn) / n if n else 0.0, "precision": precision, "recall": recall,
            "f1": f1, "fpr": fp / (fp + tn) if fp + tn else 0.0}


def auc(probs, labels):
    """ROC AUC by pair counting (ties count half)."""
    pos = [p for p, y in zip(probs, labels) if y == 1]
    neg = [p for p, y in zip(probs, labels) if y == 0]
    if not pos or not neg:
        return float("nan")
    s = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return s / (len(pos) * len(neg))


def ece(probs, labels, bins=10):
    """Expected calibration error of the positive-class probability, equal-width bins."""
    total, n = 0.0, len(probs)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if (lo < p <= hi) or (b == 0 and p == 0.0)]
        if idx:
            conf = sum(probs[i] for i in idx) / len(idx)
            acc = sum(labels[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(conf - acc)
    return total
