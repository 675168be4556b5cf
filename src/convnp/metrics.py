"""Classification metrics: accuracy, top-k accuracy, confusion matrix, per-class report.

Labels are class indices 0 .. C-1 given as 1-d integer arrays (or lists). Wherever a
function takes predictions, it also takes raw scores of shape (N, C) (logits or
probabilities) and predicts their argmax, so ``accuracy(y, model(x))`` works directly.
The numbers match scikit-learn's, with its default for divisions by zero (a precision,
recall or F1 score of 0.0) and no warnings.
"""
import numbers

import numpy as np

from .backend import to_numpy

__all__ = ["accuracy", "top_k_accuracy", "confusion_matrix", "classification_report"]


# -- input checks ----------------------------------------------------------------------
def _labels(y, what, who):
    """``y`` as a 1-d int64 array of class indices >= 0."""
    y = to_numpy(y)
    if y.ndim != 1:
        raise ValueError(f"{who}: expected {what} as labels of shape (N,), got shape {tuple(y.shape)}")
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        # Labels stored as floats (1.0, 2.0) are accepted when they are whole numbers.
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{who}: {what} must hold whole-number class indices, got non-integer values")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise TypeError(f"{who}: {what} must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if y.size and y.min() < 0:
        raise ValueError(f"{who}: {what} must be class indices >= 0, got {int(y.min())}")
    return y


def _scores(scores, what, who):
    """``scores`` as a floating (N, C) array without NaN."""
    scores = to_numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f"{who}: expected {what} of shape (N, C), got shape {tuple(scores.shape)}")
    if scores.dtype.kind not in "fiub":
        raise TypeError(f"{who}: {what} must be numbers, got dtype {scores.dtype}")
    if scores.shape[1] == 0:
        raise ValueError(f"{who}: {what} has no classes (shape {tuple(scores.shape)})")
    if scores.dtype.kind == "f" and np.isnan(scores).any():
        raise ValueError(f"{who}: {what} contains NaN")
    return scores


def _predictions(y_pred, who):
    """(labels, number of score columns or None): labels as given, or the argmax of scores."""
    arr = to_numpy(y_pred)
    if arr.ndim == 2:
        scores = _scores(arr, "y_pred scores", who)
        return np.argmax(scores, axis=1).astype(np.int64), scores.shape[1]
    return _labels(arr, "y_pred", who), None


def _same_length(y_true, y_pred, who, pred_name="y_pred"):
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"{who}: y_true and {pred_name} have different lengths: {len(y_true)} and {len(y_pred)}"
        )


def _not_empty(y_true, who):
    if len(y_true) == 0:
        raise ValueError(f"{who}: y_true is empty; need at least one sample")


def _class_count(num_classes, who, *arrays, minimum=0):
    """``num_classes`` checked against the labels, or inferred as max label + 1."""
    largest = max((int(a.max()) for a in arrays if a.size), default=-1)
    if num_classes is None:
        return max(largest + 1, minimum)
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool):
        raise TypeError(f"{who}: num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"{who}: num_classes must be >= 1, got {num_classes}")
    if largest >= num_classes:
        raise ValueError(
            f"{who}: labels must be in [0, {num_classes - 1}] for num_classes={num_classes}, got {largest}"
        )
    if minimum > num_classes:
        raise ValueError(
            f"{who}: num_classes={num_classes} is smaller than the {minimum} score columns of y_pred"
        )
    return int(num_classes)


# -- metrics ---------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class equals the true class.

    Args: y_true (N,) class indices; y_pred (N,) class indices or (N, C) scores
    (argmax taken; ties go to the lowest class index, as np.argmax).
    Returns: a Python float in [0, 1].
    Raises: ValueError for different lengths or no samples.
    """
    who = "accuracy"
    y_true = _labels(y_true, "y_true", who)
    y_pred, _ = _predictions(y_pred, who)
    _same_length(y_true, y_pred, who)
    _not_empty(y_true, who)
    return float(np.mean(y_true == y_pred))


def top_k_accuracy(y_true, scores, k=5):
    """Fraction of samples whose true class is among the ``k`` highest-scoring classes.

    Args: y_true (N,) class indices; scores (N, C); k an int in [1, C].
    Ranking: by score, highest first; equal scores are ranked by class index, lowest
    first, so ``top_k_accuracy(y, s, 1) == accuracy(y, s)``. The true class c is a hit
    when  #{j : s_j > s_c} + #{j < c : s_j == s_c} < k.
    Returns: a Python float in [0, 1].
    """
    who = "top_k_accuracy"
    y_true = _labels(y_true, "y_true", who)
    scores = _scores(scores, "scores", who)
    _same_length(y_true, scores, who, "scores")
    _not_empty(y_true, who)
    n, c = scores.shape
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TypeError(f"{who}: k must be an int, got {k!r}")
    if not 1 <= k <= c:
        raise ValueError(f"{who}: k must be in [1, {c}] for scores with {c} classes, got {k}")
    if y_true.max() >= c:
        raise ValueError(f"{who}: y_true labels must be in [0, {c - 1}] for {c} score columns, got {int(y_true.max())}")
    true_score = scores[np.arange(n), y_true][:, None]
    higher = np.count_nonzero(scores > true_score, axis=1)
    tied_before = np.count_nonzero((scores == true_score) & (np.arange(c) < y_true[:, None]), axis=1)
    return float(np.mean(higher + tied_before < k))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts M[i, j] of samples of true class i predicted as class j (scikit-learn's layout).

    Args: y_true (N,) class indices; y_pred (N,) class indices or (N, C) scores;
    num_classes: C, default the largest label + 1 (or the score columns).
    Shape: (C, C), int64; rows are true classes, columns predicted classes.
    """
    who = "confusion_matrix"
    y_true = _labels(y_true, "y_true", who)
    y_pred, columns = _predictions(y_pred, who)
    _same_length(y_true, y_pred, who)
    c = _class_count(num_classes, who, y_true, y_pred, minimum=columns or 0)
    counts = np.bincount(y_true * c + y_pred, minlength=c * c)
    return counts.reshape(c, c).astype(np.int64, copy=False)


def _divide(num, den):
    """num / den elementwise, 0.0 where den == 0 (scikit-learn's zero_division default)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _report_rows(cm):
    """Per-class precision, recall, F1 (float64 arrays) and support (int64) from a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _divide(tp, predicted)
    recall = _divide(tp, support)
    # F1 = 2PR / (P + R) = 2 tp / (2 tp + fp + fn); 0.0 when the class is absent from both.
    f1 = _divide(2 * tp, predicted + support)
    return precision, recall, f1, support


def classification_report(y_true, y_pred, class_names=None, digits=4, output_dict=False, *, num_classes=None):
    """Per-class precision, recall, F1 and support, with accuracy and macro / weighted averages.

    precision_c = tp_c / (tp_c + fp_c), recall_c = tp_c / (tp_c + fn_c),
    F1_c = 2 precision_c recall_c / (precision_c + recall_c), support_c = #{y_true == c};
    any 0 / 0 counts as 0.0. The macro average is the plain mean over classes; the
    weighted average weights each class by its support.

    Args:
        y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores.
        class_names: names of classes 0 .. C-1 (default "0", "1", ...); their number sets C.
        digits: decimals shown in the text table.
        output_dict: return a dict instead of text.
        num_classes: C when class_names is not given (default: largest label + 1).
    Returns:
        The text table laid out as scikit-learn's, or (output_dict=True) a dict
        ``{name: {"precision", "recall", "f1-score", "support"}, ..., "accuracy": float,
        "macro avg": {...}, "weighted avg": {...}}`` with Python floats and int supports.
    """
    who = "classification_report"
    y_true = _labels(y_true, "y_true", who)
    y_pred, columns = _predictions(y_pred, who)
    _same_length(y_true, y_pred, who)
    _not_empty(y_true, who)
    if not isinstance(digits, numbers.Integral) or isinstance(digits, bool) or digits < 0:
        raise ValueError(f"{who}: digits must be an int >= 0, got {digits!r}")
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(f"{who}: num_classes={num_classes} but {len(class_names)} class_names given")
        num_classes = len(class_names)
        if num_classes == 0:
            raise ValueError(f"{who}: class_names is empty")
    c = _class_count(num_classes, who, y_true, y_pred, minimum=columns or 0)
    names = class_names if class_names is not None else [str(i) for i in range(c)]
    if len(set(names)) != len(names):
        raise ValueError(f"{who}: class_names must be distinct, got {names}")

    cm = confusion_matrix(y_true, y_pred, num_classes=c)
    precision, recall, f1, support = _report_rows(cm)
    total = int(support.sum())
    weights = support / total
    rows = {name: (precision[i], recall[i], f1[i], int(support[i])) for i, name in enumerate(names)}
    averages = {
        "macro avg": (precision.mean(), recall.mean(), f1.mean(), total),
        "weighted avg": (precision @ weights, recall @ weights, f1 @ weights, total),
    }
    acc = float(np.trace(cm) / total)
    if output_dict:
        return _report_dict(rows, acc, averages)
    return _report_text(rows, acc, averages, total, int(digits))


def _report_dict(rows, acc, averages):
    def entry(p, r, f, s):
        return {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": int(s)}

    out = {name: entry(*values) for name, values in rows.items()}
    out["accuracy"] = acc
    for name, values in averages.items():
        out[name] = entry(*values)
    return out


def _report_text(rows, acc, averages, total, digits):
    width = max([len(name) for name in rows] + [len("weighted avg"), digits])

    def line(name, cells):
        return f"{name:>{width}} " + "".join(f" {cell:>9}" for cell in cells)

    def number(v):
        return f"{v:.{digits}f}"

    out = [line("", ["precision", "recall", "f1-score", "support"]), ""]
    out += [line(name, [number(p), number(r), number(f), s]) for name, (p, r, f, s) in rows.items()]
    out.append("")
    out.append(line("accuracy", ["", "", number(acc), total]))
    out += [line(name, [number(p), number(r), number(f), s]) for name, (p, r, f, s) in averages.items()]
    return "\n".join(out) + "\n"
