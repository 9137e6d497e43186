"""Conventions the ML steps share: the data set, the table layout (feature columns + the label
column `target`), deterministic CSV writing, and reading a table back with clear errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from updraft_step import FailStep

LABEL = "target"
DATASET_NAME = "breast_cancer"
#: scikit-learn's description of the label (load_breast_cancer: 0 = malignant, 1 = benign).
LABEL_NAMES = ["malignant", "benign"]


def snake(name: str) -> str:
    """'mean radius' -> 'mean_radius': column names that R, SQL and ONNX metadata take as they are."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_dataset() -> pd.DataFrame:
    """The Wisconsin breast cancer data set as scikit-learn ships it (offline): 569 rows, 30 numeric
    features, label `target`."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=snake)
    frame[LABEL] = frame[LABEL].astype("int64")
    return frame


def write_csv(frame: pd.DataFrame, path: str) -> None:
    """Deterministic CSV: no index, '\\n' line ends, shortest round-trip floats (same frame → same
    bytes, so the artifact's sha256 is stable)."""
    frame.to_csv(path, index=False, lineterminator="\n")


def read_table(path: str, where: str, label: str = LABEL) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Features (float columns), labels (int) and feature names of a CSV written by the steps."""
    try:
        frame = pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - any parse failure is bad input, named
        raise FailStep(f"{where}: cannot read {path} as CSV: {err}") from None
    if label not in frame.columns:
        raise FailStep(f"{where}: the table has no label column {label!r} (columns: {list(frame.columns)[:8]}...)")
    features = [c for c in frame.columns if c != label]
    if not features:
        raise FailStep(f"{where}: the table has no feature columns besides {label!r}")
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise FailStep(f"{where}: feature column(s) {bad[:5]} are not numeric; run validate_data first")
    if frame[features].isna().any().any():
        cols = [c for c in features if frame[c].isna().any()]
        raise FailStep(f"{where}: feature column(s) {cols[:5]} have missing values; the model takes complete rows")
    y = frame[label].to_numpy()
    if frame[label].isna().any() or not np.all(np.isin(y, [0, 1])):
        raise FailStep(f"{where}: label column {label!r} must hold 0 or 1 only")
    return frame[features].astype("float64"), y.astype("int64"), features
