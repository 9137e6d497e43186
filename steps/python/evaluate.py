"""evaluate — scores the ONNX FILE with onnxruntime (never an in-memory estimator) on the test set.

Input:  {"model": <ArtifactRef onnx>, "test": <ArtifactRef csv>, "params": {"pos_label": 1, "golden_rows": 8}}
Output: metrics accuracy, f1, roc_auc, log_loss, precision, recall (and n_test);
        evaluation.json (type report): the metrics, the confusion matrix, the model's sha256;
        golden.json (type other): the first `golden_rows` test rows with the label and
        probabilities this file produced — serve replays them against the published copy;
        return: {"metrics": {"accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"} —
        exactly what the model gate compares —, "evaluation": <ArtifactRef>, "golden": <ArtifactRef>
        (serve reads it)}.
"""

from __future__ import annotations

import json

import numpy as np

from ml_common import read_table
from updraft_step import FailStep, InputError, Step, run_step, sha256_file

METRICS = ("accuracy", "f1", "roc_auc", "log_loss", "precision", "recall")


def load_session(path: str, where: str):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any load failure means the file is no usable model
        raise FailStep(f"{where}: onnxruntime cannot load {path}: {str(err)[:300]}") from None


def check_columns(sess, features: list[str], where: str) -> None:
    meta = sess.get_modelmeta().custom_metadata_map
    trained = meta.get("features", "").split(",") if meta.get("features") else None
    if trained is not None and trained != features:
        missing = [c for c in trained if c not in features]
        raise FailStep(f"{where}: the table's columns do not match the model's features"
                       + (f" (missing {missing[:5]})" if missing else " (order differs)"))
    width = sess.get_inputs()[0].shape[1]
    if isinstance(width, int) and width != len(features):
        raise FailStep(f"{where}: the model takes {width} features, the table has {len(features)}")


def score(sess, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    label, proba = sess.run(["label", "probabilities"], {sess.get_inputs()[0].name: X.astype(np.float32)})
    return np.asarray(label), np.asarray(proba, dtype=np.float64)


def classification_metrics(y: np.ndarray, label: np.ndarray, proba_pos: np.ndarray) -> dict:
    from sklearn import metrics as m

    eps = 1e-15
    return {
        "accuracy": float(m.accuracy_score(y, label)),
        "f1": float(m.f1_score(y, label, zero_division=0)),
        "roc_auc": float(m.roc_auc_score(y, proba_pos)) if len(set(y.tolist())) == 2 else float("nan"),
        "log_loss": float(m.log_loss(y, np.clip(proba_pos, eps, 1 - eps), labels=[0, 1])),
        "precision": float(m.precision_score(y, label, zero_division=0)),
        "recall": float(m.recall_score(y, label, zero_division=0)),
    }


def main(step: Step):
    step.check_keys({"model", "test"})
    p = step.params({"pos_label": 1, "golden_rows": 8})
    if p["pos_label"] not in (0, 1):
        raise InputError(f"input.params.pos_label: expected 0 or 1, got {p['pos_label']}")
    if not 0 <= p["golden_rows"] <= 100:
        raise InputError(f"input.params.golden_rows: expected 0..100, got {p['golden_rows']}")
    model_path = step.artifact("model")
    X, y, features = read_table(step.artifact("test"), "input.test")
    sess = load_session(model_path, "input.model")
    check_columns(sess, features, "input.test")
    label, proba = score(sess, X.to_numpy(dtype=np.float32))

    pos = p["pos_label"]
    y_pos = (y == pos).astype(int)
    metrics = classification_metrics(y_pos, (label == pos).astype(int), proba[:, pos])
    if not all(np.isfinite(v) for v in metrics.values()):
        raise FailStep(f"input.test: the test set has one class only ({len(y)} rows): roc_auc is undefined")
    step.log_metrics(metrics)
    step.log_metric("n_test", len(y))

    from sklearn.metrics import confusion_matrix

    model_sha = sha256_file(model_path)
    report = {
        "model_sha256": model_sha,
        "n_test": int(len(y)),
        "pos_label": pos,
        "metrics": metrics,
        "confusion_matrix": {"labels": [0, 1], "matrix": confusion_matrix(y, label, labels=[0, 1]).tolist()},
        "scored_with": "onnxruntime",
    }
    with open(step.output_path("evaluation.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True)
    evaluation = step.log_artifact("evaluation", "evaluation.json", "report", format="json", metadata={"kind": "evaluation"})

    n = min(p["golden_rows"], len(y))
    golden = {
        "model_sha256": model_sha,
        "features": features,
        "rows": [{"input": [float(v) for v in X.iloc[i].to_numpy(dtype=np.float32)],
                  "label": int(label[i]), "probabilities": [float(v) for v in proba[i]]} for i in range(n)],
    }
    with open(step.output_path("golden.json"), "w", encoding="utf-8") as fh:
        json.dump(golden, fh, indent=1)
    golden_ref = step.log_artifact("golden", "golden.json", "other", format="json", metadata={"kind": "golden_requests", "rows": n})
    step.log_params({"pos_label": pos, "model_sha256": model_sha})
    return {"metrics": metrics, "evaluation": evaluation, "golden": golden_ref}


if __name__ == "__main__":
    run_step(main)
