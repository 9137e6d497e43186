"""evaluate — scores the ONNX FILE with onnxruntime (never an in-memory estimator) on the test set,
and the current champion's ONNX file on the SAME rows when there is one (the gate compares both).

Input:  {"model": <ArtifactRef onnx>, "test": <ArtifactRef csv>,
         "champion": null | {"model", "version", "alias", "artifact": <ArtifactRef onnx>, ...}
                     (d.modelVersion()'s output; optional),
         "params": {"pos_label": 1, "golden_rows": 8}}
Output: metrics accuracy, f1, roc_auc, log_loss, precision, recall (and n_test), and the
        champion's as baseline_<name>;
        evaluation.json (type report): the metrics, the confusion matrix, the model's sha256, and
        "baseline": the champion's version, sha256, metrics and confusion matrix on these rows (or null);
        golden.json (type other): the first `golden_rows` test rows with the label and
        probabilities this file produced — serve replays them against the published copy;
        return: {"metrics": {"accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"} —
        exactly what the model gate compares —, "baseline": {"version", "metrics"} | null (the
        champion's, same names, same rows: the gate's `baseline`), "evaluation": <ArtifactRef>,
        "golden": <ArtifactRef> (serve reads it)}.
A champion whose features do not match the test table cannot be scored on these rows: the step
fails naming input.champion rather than drop the comparison.
"""

from __future__ import annotations

import json

import numpy as np

from ml_common import read_table
from updraft_step import FailStep, InputError, Step, resolve_ref, run_step, sha256_file

METRICS = ("accuracy", "f1", "roc_auc", "log_loss", "precision", "recall")


def load_session(path: str, where: str):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any load failure means the file is no usable model
        raise FailStep(f"{where}: onnxruntime cannot load {path}: {str(err)[:300]}") from None


def check_columns(sess, features: list[str], where: str, model: str = "the model") -> None:
    meta = sess.get_modelmeta().custom_metadata_map
    trained = meta.get("features", "").split(",") if meta.get("features") else None
    if trained is not None and trained != features:
        missing = [c for c in trained if c not in features]
        raise FailStep(f"{where}: the table's columns do not match {model}'s features"
                       + (f" (missing {missing[:5]})" if missing else " (order differs)"))
    width = sess.get_inputs()[0].shape[1]
    if isinstance(width, int) and width != len(features):
        raise FailStep(f"{where}: {model} takes {width} features, the table has {len(features)}")


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


def champion_input(step: Step) -> dict | None:
    """`input.champion`: d.modelVersion()'s output (the version behind the alias), or null/absent."""
    if not step.has("champion"):
        return None
    raw = step.input["champion"]
    if not isinstance(raw, dict):
        raise InputError(f"input.champion: expected null or {{model, version, alias, artifact}} "
                         f"(d.modelVersion()'s output), got {type(raw).__name__}")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"input.champion.version: expected a version number >= 1, got {json.dumps(version)}")
    if "artifact" not in raw:
        raise InputError("input.champion.artifact: missing; expected the version's ArtifactRef {\"$artifact\": {...}}")
    return {"version": version, "label": f"{raw.get('model', 'the model')}@{version}",
            "path": resolve_ref(raw["artifact"], "input.champion.artifact", download_dir=None)}


def evaluate_model(path: str, X: np.ndarray, y: np.ndarray, features: list[str], pos: int, where: str,
                   table_where: str, model: str = "the model") -> tuple[dict, np.ndarray, np.ndarray]:
    """One ONNX file scored on the test rows: metrics, labels and probabilities."""
    sess = load_session(path, where)
    check_columns(sess, features, table_where, model)
    label, proba = score(sess, X)
    metrics = classification_metrics((y == pos).astype(int), (label == pos).astype(int), proba[:, pos])
    return metrics, label, proba


def main(step: Step):
    step.check_keys({"model", "test", "champion"})
    p = step.params({"pos_label": 1, "golden_rows": 8})
    if p["pos_label"] not in (0, 1):
        raise InputError(f"input.params.pos_label: expected 0 or 1, got {p['pos_label']}")
    if not 0 <= p["golden_rows"] <= 100:
        raise InputError(f"input.params.golden_rows: expected 0..100, got {p['golden_rows']}")
    model_path = step.artifact("model")
    champion = champion_input(step)
    X, y, features = read_table(step.artifact("test"), "input.test")
    X32 = X.to_numpy(dtype=np.float32)
    pos = p["pos_label"]
    metrics, label, proba = evaluate_model(model_path, X32, y, features, pos, "input.model", "input.test")
    if not all(np.isfinite(v) for v in metrics.values()):
        raise FailStep(f"input.test: the test set has one class only ({len(y)} rows): roc_auc is undefined")

    from sklearn.metrics import confusion_matrix

    def confusion(labels: np.ndarray) -> dict:
        return {"labels": [0, 1], "matrix": confusion_matrix(y, labels, labels=[0, 1]).tolist()}

    # The champion on the same rows: what the gate compares the candidate with (MLflow's baseline model).
    baseline = None
    baseline_report = None
    if champion is not None:
        b_metrics, b_label, _ = evaluate_model(
            champion["path"], X32, y, features, pos, "input.champion", "input.champion",
            f"the champion {champion['label']}")
        baseline = {"version": champion["version"], "metrics": b_metrics}
        baseline_report = {"version": champion["version"], "model_sha256": sha256_file(champion["path"]),
                           "metrics": b_metrics, "confusion_matrix": confusion(b_label)}
    step.log_metrics(metrics)
    step.log_metric("n_test", len(y))
    if baseline is not None:
        step.log_metrics({f"baseline_{k}": v for k, v in baseline["metrics"].items()})

    model_sha = sha256_file(model_path)
    report = {
        "model_sha256": model_sha,
        "n_test": int(len(y)),
        "pos_label": pos,
        "metrics": metrics,
        "confusion_matrix": confusion(label),
        "baseline": baseline_report,
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
    if baseline is not None:
        step.log_param("baseline_version", baseline["version"])
    return {"metrics": metrics, "baseline": baseline, "evaluation": evaluation, "golden": golden_ref}


if __name__ == "__main__":
    run_step(main)
