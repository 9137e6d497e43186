"""train — StandardScaler → LogisticRegression, exported with its preprocessing inside ONE ONNX
graph (skl2onnx), so what is served is exactly what was trained and evaluated.

Input:  {"train": <ArtifactRef csv>, "params": {"model_name": "breast_cancer_classifier", "C": 1.0,
         "max_iter": 1000, "solver": "lbfgs", "tol": 0.0001, "class_weight": null, "random_state": 0}}
Output: model.onnx (type model, format onnx, register {model, signature}); params (hyperparameters,
        library versions, target opsets, reproducible); metrics train_accuracy, train_log_loss,
        onnx_max_abs_diff; return {"model": <ArtifactRef>, "model_name", "model_sha256",
        "train_accuracy", "reproducible": true}

ONNX graph: input `input` float32 [N, n_features] (columns in the order of `signature.inputs[0].columns`),
outputs `label` int64 [N] and `probabilities` float32 [N, 2] (no ZipMap).

Reproducibility: the fit is deterministic (lbfgs, fixed random_state) and the export pins the
opsets and carries no time, host or random id, so the same data and params give a byte-identical
model.onnx. The step checks this itself — it exports twice and compares — and records
`reproducible: false` with the reason if the bytes ever differ.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ml_common import DATASET_NAME, LABEL, LABEL_NAMES, read_table
from updraft_step import FailStep, InputError, Step, run_step

#: Pinned so the graph does not change when skl2onnx's default opset moves.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")


def fit(X, y, p: dict):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegression(C=p["C"], max_iter=p["max_iter"], solver=p["solver"], tol=p["tol"],
                             class_weight=p["class_weight"], random_state=p["random_state"])
    return Pipeline([("scaler", StandardScaler()), ("classifier", clf)]).fit(X, y)


def export_onnx(pipeline, features: list[str], model_name: str) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    onx = to_onnx(
        pipeline,
        initial_types=[("input", FloatTensorType([None, len(features)]))],
        options={LogisticRegression: {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    onx.doc_string = f"{model_name}: StandardScaler + LogisticRegression trained on {DATASET_NAME}"
    # Serving needs the column order and label meaning; they live in the file, not beside it.
    props = {"features": ",".join(features), "label": LABEL, "label_names": ",".join(LABEL_NAMES),
             "model_name": model_name}
    for key, value in props.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx.SerializeToString()


def onnx_predict(model_bytes: bytes, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    label, proba = sess.run(["label", "probabilities"], {"input": X.astype(np.float32)})
    return label, proba


def signature(features: list[str]) -> dict:
    return {
        "inputs": [{"name": "input", "type": "float32", "shape": [-1, len(features)], "columns": features}],
        "outputs": [
            {"name": "label", "type": "int64", "shape": [-1], "classes": {"0": LABEL_NAMES[0], "1": LABEL_NAMES[1]}},
            {"name": "probabilities", "type": "float32", "shape": [-1, 2]},
        ],
    }


def library_versions() -> dict:
    import numpy
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    return {"sklearn_version": sklearn.__version__, "skl2onnx_version": skl2onnx.__version__,
            "onnx_version": onnx.__version__, "onnxruntime_version": onnxruntime.__version__,
            "numpy_version": numpy.__version__}


def main(step: Step):
    step.check_keys({"train"})
    p = step.params({"model_name": "breast_cancer_classifier", "C": 1.0, "max_iter": 1000, "solver": "lbfgs",
                     "tol": 1e-4, "class_weight": None, "random_state": 0})
    if p["C"] <= 0:
        raise InputError(f"input.params.C: expected a positive number, got {p['C']}")
    if p["max_iter"] < 1:
        raise InputError(f"input.params.max_iter: expected an integer >= 1, got {p['max_iter']}")
    if p["solver"] not in SOLVERS:
        raise InputError(f"input.params.solver: expected one of {', '.join(SOLVERS)}, got {p['solver']!r}")
    if p["class_weight"] not in (None, "balanced"):
        raise InputError(f"input.params.class_weight: expected null or \"balanced\", got {p['class_weight']!r}")

    X, y, features = read_table(step.artifact("train"), "input.train")
    # The model sees float32 (ONNX's input type) in training too, so train and serve round alike.
    X32 = X.to_numpy(dtype=np.float32)
    pipeline = fit(X32, y, p)
    model_bytes = export_onnx(pipeline, features, p["model_name"])

    # Same data + params must give the same bytes: fit and export again and compare.
    again = export_onnx(fit(X32, y, p), features, p["model_name"])
    reproducible = again == model_bytes
    reason = "" if reproducible else "two fits of the same data and params exported different ONNX bytes"

    label, proba = onnx_predict(model_bytes, X32)
    sk_proba = pipeline.predict_proba(X32)
    max_diff = float(np.max(np.abs(proba - sk_proba)))
    if max_diff > 1e-4:
        raise FailStep(f"the ONNX export disagrees with the fitted pipeline (max probability difference {max_diff:.2e})")

    with open(step.output_path("model.onnx"), "wb") as fh:
        fh.write(model_bytes)
    eps = 1e-15
    p1 = np.clip(proba[:, 1].astype(np.float64), eps, 1 - eps)
    step.log_metrics({
        "train_accuracy": float(np.mean(label == y)),
        "train_log_loss": float(-np.mean(y * np.log(p1) + (1 - y) * np.log(1 - p1))),
        "onnx_max_abs_diff": max_diff,
        "n_iter": int(pipeline.named_steps["classifier"].n_iter_[0]),
    })
    step.log_params({
        "model_type": "Pipeline(StandardScaler, LogisticRegression)",
        "C": p["C"], "max_iter": p["max_iter"], "solver": p["solver"], "tol": p["tol"],
        "class_weight": p["class_weight"] or "none", "random_state": p["random_state"],
        "n_features": len(features), "train_rows": len(y),
        "onnx_opset": TARGET_OPSET[""], "onnx_ml_opset": TARGET_OPSET["ai.onnx.ml"],
        "reproducible": reproducible,
        **({"reproducible_reason": reason} if reason else {}),
        **library_versions(),
    })
    sha = hashlib.sha256(model_bytes).hexdigest()
    model = step.log_artifact(
        "model", "model.onnx", "model", format="onnx",
        metadata={"framework": "sklearn", "flavor": "onnx", "features": len(features), "label": LABEL},
        register={"model": p["model_name"], "signature": signature(features)},
    )
    return {"model": model, "model_name": p["model_name"], "model_sha256": sha,
            "train_accuracy": float(np.mean(label == y)), "reproducible": reproducible}


if __name__ == "__main__":
    run_step(main)
