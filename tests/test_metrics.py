"""Metrics: hand-computed examples, scikit-learn as the oracle, and the error messages."""
import warnings

import numpy as np
import pytest

from convnp.metrics import accuracy, classification_report, confusion_matrix, top_k_accuracy


# -- hand-computed examples (no scikit-learn needed) -----------------------------------
Y_TRUE = [0, 0, 1, 1, 1, 2, 2, 3]
Y_PRED = [0, 1, 1, 1, 0, 1, 1, 3]   # class 2 is never predicted; class 4 appears nowhere


def test_accuracy_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == 4 / 8
    assert accuracy(np.array([2, 2]), np.array([2, 2])) == 1.0
    assert isinstance(accuracy([0], [1]), float)


def test_accuracy_takes_scores_and_breaks_ties_like_argmax():
    scores = np.array([[0.1, 0.7, 0.2],
                       [2.0, -1.0, 0.0],
                       [0.5, 0.5, 0.0]])   # a tie: argmax picks class 0
    assert accuracy([1, 0, 0], scores) == 1.0
    assert accuracy([1, 0, 1], scores) == pytest.approx(2 / 3)


def test_accuracy_accepts_whole_number_floats_and_bools():
    assert accuracy(np.array([0.0, 1.0, 2.0]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(np.array([True, False]), np.array([1, 1])) == 0.5


def test_top_k_by_hand():
    scores = np.array([[0.1, 0.5, 0.3, 0.1],    # ranking 1, 2, 0, 3
                       [0.4, 0.3, 0.2, 0.1],    # ranking 0, 1, 2, 3
                       [0.0, 0.0, 0.0, 1.0]])   # ranking 3, 0, 1, 2 (ties by index)
    y = [0, 2, 1]
    assert top_k_accuracy(y, scores, k=1) == 0.0
    assert top_k_accuracy(y, scores, k=2) == 0.0
    assert top_k_accuracy(y, scores, k=3) == 1.0
    assert top_k_accuracy([2, 2, 0], scores, k=2) == pytest.approx(2 / 3)
    assert top_k_accuracy(y, scores, k=4) == 1.0


def test_top_1_equals_accuracy_even_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 3, size=(200, 5)).astype(np.float32)   # many ties
    y = rng.integers(0, 5, size=200)
    assert top_k_accuracy(y, scores, k=1) == accuracy(y, scores)


def test_confusion_matrix_by_hand():
    expected = np.array([[1, 1, 0, 0],
                         [1, 2, 0, 0],
                         [0, 2, 0, 0],
                         [0, 0, 0, 1]])
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    wide = confusion_matrix(Y_TRUE, Y_PRED, num_classes=6)
    assert wide.shape == (6, 6)
    np.testing.assert_array_equal(wide[:4, :4], expected)
    assert wide[4:].sum() == 0 and wide[:, 4:].sum() == 0


def test_confusion_matrix_from_scores_uses_their_width():
    scores = np.zeros((2, 5))
    scores[0, 1] = scores[1, 3] = 1.0
    cm = confusion_matrix([1, 0], scores)
    assert cm.shape == (5, 5)
    assert cm[1, 1] == 1 and cm[0, 3] == 1 and cm.sum() == 2


def test_confusion_matrix_empty_input():
    assert confusion_matrix([], [], num_classes=3).tolist() == [[0] * 3] * 3
    assert confusion_matrix(np.array([], dtype=int), np.array([], dtype=int)).shape == (0, 0)


def test_report_dict_by_hand():
    report = classification_report(Y_TRUE, Y_PRED, num_classes=5, output_dict=True)
    assert list(report) == ["0", "1", "2", "3", "4", "accuracy", "macro avg", "weighted avg"]
    assert report["0"] == {"precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 2}
    # class 1: tp 2, predicted 5 times, 3 true -> P 2/5, R 2/3, F1 = 2*2/(5+3) = 0.5
    assert report["1"]["precision"] == pytest.approx(0.4)
    assert report["1"]["recall"] == pytest.approx(2 / 3)
    assert report["1"]["f1-score"] == pytest.approx(0.5)
    # class 2: never predicted -> precision 0/0 = 0.0; class 4: absent everywhere -> all 0.0
    assert report["2"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 2}
    assert report["4"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    assert report["3"] == {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 1}
    assert report["accuracy"] == 0.5
    macro = report["macro avg"]
    assert macro["precision"] == pytest.approx((0.5 + 0.4 + 0 + 1 + 0) / 5)
    assert macro["support"] == 8
    weighted = report["weighted avg"]
    assert weighted["recall"] == pytest.approx(0.5)   # the support-weighted recall is the accuracy
    assert weighted["f1-score"] == pytest.approx((2 * 0.5 + 3 * 0.5 + 2 * 0 + 1 * 1) / 8)


def test_report_text_layout():
    text = classification_report(Y_TRUE, Y_PRED, class_names=["zero", "one", "two", "three"], digits=2)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[1] == ""
    assert lines[2].split() == ["zero", "0.50", "0.50", "0.50", "2"]
    assert lines[4].split() == ["two", "0.00", "0.00", "0.00", "2"]
    assert lines[7].split() == ["accuracy", "0.50", "8"]
    assert lines[8].startswith("   macro avg")
    assert lines[9].startswith("weighted avg")
    assert len({len(line) for line in lines if line and not line.startswith(" " * 8 + "accuracy")}) == 1


def test_report_class_names_set_the_number_of_classes():
    report = classification_report([0, 1], [0, 1], class_names=["cat", "dog", "bird"], output_dict=True)
    assert report["bird"]["support"] == 0
    assert report["macro avg"]["recall"] == pytest.approx(2 / 3)


def test_no_warnings_on_zero_division():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classification_report([0, 0, 1], [0, 0, 0], num_classes=4)
        classification_report([0, 0, 1], [0, 0, 0], num_classes=4, output_dict=True)


def test_scores_only_their_order_matters():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(50, 4))
    y = rng.integers(0, 4, size=50)
    shifted = (scores * 3 + 1).astype(np.float32)
    assert accuracy(y, shifted) == accuracy(y, scores)
    assert top_k_accuracy(y, shifted, 2) == top_k_accuracy(y, scores, 2)
    np.testing.assert_array_equal(confusion_matrix(y, shifted), confusion_matrix(y, scores.argmax(1)))


# -- errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [accuracy, confusion_matrix, classification_report])
def test_mismatched_lengths(fn):
    with pytest.raises(ValueError, match=r"y_true and y_pred have different lengths: 3 and 2"):
        fn([0, 1, 1], [0, 1])


def test_mismatched_lengths_top_k():
    with pytest.raises(ValueError, match=r"top_k_accuracy: y_true and scores have different lengths: 2 and 3"):
        top_k_accuracy([0, 1], np.zeros((3, 4)), k=2)


def test_bad_labels():
    with pytest.raises(ValueError, match=r"accuracy: y_true must be class indices >= 0, got -1"):
        accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match=r"y_pred must hold whole-number class indices"):
        accuracy([0, 1], [0.5, 1.0])
    with pytest.raises(TypeError, match=r"y_true must be integer class indices, got dtype <U1"):
        accuracy(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match=r"expected y_true as labels of shape \(N,\), got shape \(2, 3\)"):
        accuracy(np.zeros((2, 3), dtype=int), [0, 1])
    with pytest.raises(ValueError, match=r"accuracy: y_pred scores contains NaN"):
        accuracy([0, 1], np.array([[0.0, 1.0], [np.nan, 0.0]]))


def test_empty_inputs():
    with pytest.raises(ValueError, match=r"accuracy: y_true is empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match=r"classification_report: y_true is empty"):
        classification_report([], [])


def test_bad_k():
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"top_k_accuracy: k must be in \[1, 3\] for scores with 3 classes, got 4"):
        top_k_accuracy([0, 1], scores, k=4)
    with pytest.raises(ValueError, match=r"got 0"):
        top_k_accuracy([0, 1], scores, k=0)
    with pytest.raises(TypeError, match=r"k must be an int, got 1.5"):
        top_k_accuracy([0, 1], scores, k=1.5)
    with pytest.raises(ValueError, match=r"y_true labels must be in \[0, 2\] for 3 score columns, got 3"):
        top_k_accuracy([0, 3], scores, k=1)
    with pytest.raises(ValueError, match=r"expected scores of shape \(N, C\), got shape \(2,\)"):
        top_k_accuracy([0, 1], np.zeros(2), k=1)


def test_bad_num_classes():
    with pytest.raises(ValueError, match=r"confusion_matrix: labels must be in \[0, 2\] for num_classes=3, got 5"):
        confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match=r"num_classes=2 is smaller than the 4 score columns"):
        confusion_matrix([0, 1], np.zeros((2, 4)), num_classes=2)
    with pytest.raises(ValueError, match=r"classification_report: labels must be in \[0, 1\] for num_classes=2, got 2"):
        classification_report([0, 2], [0, 1], class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"num_classes=3 but 2 class_names given"):
        classification_report([0, 1], [0, 1], class_names=["a", "b"], num_classes=3)
    with pytest.raises(ValueError, match=r"class_names must be distinct"):
        classification_report([0, 1], [0, 1], class_names=["a", "a"])
    with pytest.raises(ValueError, match=r"digits must be an int >= 0, got -1"):
        classification_report([0, 1], [0, 1], digits=-1)


# -- scikit-learn as the oracle ----------------------------------------------------------
def _random_case(seed):
    """Random labels where some classes are never predicted and one appears nowhere."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(3, 9))
    n = int(rng.integers(5, 200))
    y_true = rng.integers(0, c - 1, size=n)                    # class c-1 appears nowhere in y_true
    allowed = rng.permutation(c - 1)[: max(1, (c - 1) // 2)]    # predictions use a subset
    y_pred = rng.choice(allowed, size=n)
    return c, y_true, y_pred


@pytest.mark.parametrize("seed", range(12))
def test_against_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    c, y_true, y_pred = _random_case(seed)
    labels = list(range(c))
    assert accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-15)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, num_classes=c),
                                  sk.confusion_matrix(y_true, y_pred, labels=labels))
    ours = classification_report(y_true, y_pred, num_classes=c, output_dict=True)
    theirs = sk.classification_report(y_true, y_pred, labels=labels, zero_division=0.0, output_dict=True)
    assert list(ours) == list(theirs)
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-12)
    for key in ours:
        if key == "accuracy":
            continue
        for field in ("precision", "recall", "f1-score", "support"):
            assert ours[key][field] == pytest.approx(theirs[key][field], abs=1e-12), (key, field)
    for digits in (2, 4, 6):
        assert classification_report(y_true, y_pred, num_classes=c, digits=digits) == sk.classification_report(
            y_true, y_pred, labels=labels, zero_division=0.0, digits=digits)


@pytest.mark.parametrize("seed", range(4))
def test_report_text_with_names_matches_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    c, y_true, y_pred = _random_case(seed)
    names = [f"class-{'x' * i}" for i in range(c)]   # names longer than "weighted avg"
    assert classification_report(y_true, y_pred, class_names=names) == sk.classification_report(
        y_true, y_pred, labels=list(range(c)), target_names=names, zero_division=0.0, digits=4)


@pytest.mark.parametrize("seed", range(8))
def test_top_k_against_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    c = int(rng.integers(3, 12))
    n = int(rng.integers(1, 100))
    scores = rng.normal(size=(n, c))
    y = rng.integers(0, c, size=n)
    for k in range(1, c):
        assert top_k_accuracy(y, scores, k) == pytest.approx(
            sk.top_k_accuracy_score(y, scores, k=k, labels=list(range(c))), abs=1e-15)
    assert accuracy(y, scores) == pytest.approx(sk.accuracy_score(y, scores.argmax(1)), abs=1e-15)
