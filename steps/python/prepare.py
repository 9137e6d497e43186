"""prepare — a deterministic stratified train/test split, and the training data's reference
statistics (what validate_data checks later slices against, and what monitor's bins come from).

Input:  {"dataset": <ArtifactRef csv>, "params": {"test_size": 0.2, "seed": 0}}
Output: train.csv, test.csv (type dataset, csv), reference_stats.json (type report, json);
        metrics train_rows, test_rows, train_positive_fraction, test_positive_fraction;
        return {"train": ref, "test": ref, "reference_stats": ref, "train_rows": n, "test_rows": m}

reference_stats.json: {"version": 1, "label": "target", "rows": n, "label_values": [0, 1],
  "columns": {"<feature>": {"type": "float", "missing_frac", "min", "max", "mean", "std",
  "quantiles": [q0, q10, ..., q100]}}}
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.model_selection import train_test_split

from ml_common import LABEL, read_table, write_csv
from updraft_step import FailStep, InputError, Step, run_step


def reference_stats(frame, y, features: list[str]) -> dict:
    columns = {}
    for col in features:
        values = frame[col].to_numpy(dtype="float64")
        columns[col] = {
            "type": "float",
            "missing_frac": 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
            "std": float(values.std(ddof=0)),
            "quantiles": [float(q) for q in np.quantile(values, np.linspace(0.0, 1.0, 11))],
        }
    return {"version": 1, "label": LABEL, "rows": int(len(frame)), "label_values": sorted(int(v) for v in set(y)),
            "columns": columns}


def main(step: Step):
    step.check_keys({"dataset"})
    p = step.params({"test_size": 0.2, "seed": 0})
    if not 0.0 < p["test_size"] < 1.0:
        raise InputError(f"input.params.test_size: expected 0 < test_size < 1, got {p['test_size']}")
    X, y, features = read_table(step.artifact("dataset"), "input.dataset")
    if min(np.bincount(y, minlength=2)) < 2:
        raise FailStep("input.dataset: a stratified split needs at least 2 rows of each class")
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=p["test_size"], random_state=p["seed"], stratify=y)
    except ValueError as err:
        raise FailStep(f"cannot split {len(y)} rows with test_size {p['test_size']}: {err}") from None

    outputs = {}
    for name, X_part, y_part in (("train", X_train, y_train), ("test", X_test, y_test)):
        part = X_part.sort_index().copy()
        part[LABEL] = y_part[np.argsort(X_part.index)]
        write_csv(part, step.output_path(f"{name}.csv"))
        outputs[name] = step.log_artifact(name, f"{name}.csv", "dataset", format="csv",
                                          metadata={"rows": len(part), "label": LABEL, "split": name})
        step.log_metric(f"{name}_rows", len(part))
        step.log_metric(f"{name}_positive_fraction", float(y_part.mean()))

    stats = reference_stats(X_train, y_train, features)
    with open(step.output_path("reference_stats.json"), "w", encoding="utf-8") as fh:
        json.dump(stats, fh, indent=1, sort_keys=True)
    outputs["reference_stats"] = step.log_artifact(
        "reference_stats", "reference_stats.json", "report", format="json", metadata={"kind": "reference_statistics"})
    step.log_params({"test_size": p["test_size"], "split_seed": p["seed"], "stratified": True})
    return {**outputs, "train_rows": len(y_train), "test_rows": len(y_test)}


if __name__ == "__main__":
    run_step(main)
