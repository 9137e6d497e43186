"""serve — publishes an approved ONNX model to a serving folder (like TFX's Pusher), then proves the
published copy answers: it loads THAT copy with onnxruntime and replays golden requests (rows with
the outputs evaluate got from the same file) before declaring the model served.

Input:  {"model": <ArtifactRef onnx>, "golden": <ArtifactRef json from evaluate>,
         "params": {"serving_dir": null, "model_name": null, "version": null, "tolerance": 1e-05}}
        serving_dir defaults to $UPDRAFT_SERVING_DIR; model_name to the name inside the ONNX
        metadata; version to the first 12 hex digits of the model's sha256.
Output: <serving_dir>/<model_name>/<version>/model.onnx, and <serving_dir>/<model_name>/deployment.json
        (the pointer a server reads, replaced atomically only after the smoke test passed);
        deployment.json artifact (type other, format json); metrics smoke_rows, smoke_max_abs_diff,
        smoke_latency_ms; return {"served": true, "model_name", "version", "sha256", "path",
        "previous_version", "deployment": <ArtifactRef>}
A failed smoke test removes the new copy, leaves the previous deployment as it was and exits 98.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time

import numpy as np

from updraft_step import FailStep, InputError, Step, run_step, sha256_file

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def atomic_write(path: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_golden(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            golden = json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise FailStep(f"input.golden: cannot read {path} as JSON: {err}") from None
    if not isinstance(golden, dict) or not isinstance(golden.get("rows"), list) or not golden["rows"]:
        raise FailStep("input.golden: expected {\"rows\": [{\"input\": [...], \"label\": n, \"probabilities\": [...]}, ...]} with at least one row")
    return golden


def smoke_test(model_file: str, golden: dict, tolerance: float) -> dict:
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(model_file, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001
        raise FailStep(f"smoke test: onnxruntime cannot load the published copy {model_file}: {str(err)[:300]}") from None
    input_name = sess.get_inputs()[0].name
    max_diff = 0.0
    started = time.perf_counter()
    for i, row in enumerate(golden["rows"]):
        # One request per row, as a client would send them.
        label, proba = sess.run(["label", "probabilities"], {input_name: np.asarray([row["input"]], dtype=np.float32)})
        if int(label[0]) != int(row["label"]):
            raise FailStep(f"smoke test: golden row {i}: the served model answered label {int(label[0])}, expected {row['label']}")
        diff = float(np.max(np.abs(np.asarray(proba[0], dtype=np.float64) - np.asarray(row["probabilities"]))))
        if diff > tolerance:
            raise FailStep(f"smoke test: golden row {i}: probabilities differ by {diff:.3g} (> tolerance {tolerance})")
        max_diff = max(max_diff, diff)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return {"rows": len(golden["rows"]), "max_abs_diff": max_diff, "latency_ms": elapsed_ms / len(golden["rows"])}


def main(step: Step):
    step.check_keys({"model", "golden"})
    p = step.params({"serving_dir": None, "model_name": None, "version": None, "tolerance": 1e-5})
    serving_dir = p["serving_dir"] or os.environ.get("UPDRAFT_SERVING_DIR")
    if not serving_dir:
        raise InputError("input.params.serving_dir: required (or set $UPDRAFT_SERVING_DIR): the folder a model server reads models from")
    if not isinstance(serving_dir, str) or not os.path.isabs(serving_dir):
        raise InputError(f"input.params.serving_dir: expected an absolute path, got {serving_dir!r}")

    model_src = step.artifact("model")
    golden = load_golden(step.artifact("golden"))
    sha = sha256_file(model_src)
    if golden.get("model_sha256") not in (None, sha):
        raise FailStep(f"input.golden: the golden requests were recorded for model {golden['model_sha256'][:12]}, not for this model {sha[:12]}")

    import onnxruntime as ort

    meta = ort.InferenceSession(model_src, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    name = p["model_name"] or meta.get("model_name")
    if not name:
        raise InputError("input.params.model_name: required (the model file carries no model_name metadata)")
    version = str(p["version"]) if p["version"] is not None else sha[:12]
    for field, value in (("model_name", name), ("version", version)):
        if not NAME_RE.match(value):
            raise InputError(f"input.params.{field}: {value!r} is not a safe folder name (letters, digits, '_', '-', '.')")

    model_dir = os.path.join(serving_dir, name)
    version_dir = os.path.join(model_dir, version)
    pointer = os.path.join(model_dir, "deployment.json")
    previous = None
    if os.path.exists(pointer):
        with open(pointer, encoding="utf-8") as fh:
            previous = json.load(fh)
    existed = os.path.exists(os.path.join(version_dir, "model.onnx"))
    os.makedirs(version_dir, exist_ok=True)
    published = os.path.join(version_dir, "model.onnx")
    if existed and sha256_file(published) != sha:
        raise FailStep(f"{published} already holds other bytes for version {version}; choose another version")
    if not existed:
        with open(model_src, "rb") as fh:
            atomic_write(published, fh.read())
    if sha256_file(published) != sha:
        raise FailStep(f"the published copy {published} does not match the model's sha256")

    try:
        smoke = smoke_test(published, golden, p["tolerance"])
    except FailStep:
        if not existed:
            shutil.rmtree(version_dir, ignore_errors=True)
        raise

    deployment = {
        "model_name": name,
        "version": version,
        "sha256": sha,
        "path": os.path.relpath(published, model_dir),
        "format": "onnx",
        "inputs": [{"name": i.name, "type": i.type, "shape": [d if isinstance(d, int) else -1 for d in i.shape]} for i in
                   ort.InferenceSession(published, providers=["CPUExecutionProvider"]).get_inputs()],
        "smoke_test": {"rows": smoke["rows"], "max_abs_diff": smoke["max_abs_diff"], "passed": True},
        "previous_version": previous.get("version") if isinstance(previous, dict) else None,
    }
    text = json.dumps(deployment, indent=1, sort_keys=True).encode()
    atomic_write(pointer, text)
    with open(step.output_path("deployment.json"), "wb") as fh:
        fh.write(text)
    ref = step.log_artifact("deployment", "deployment.json", "other", format="json",
                            metadata={"kind": "deployment", "model_name": name, "version": version})
    step.log_metrics({"smoke_rows": smoke["rows"], "smoke_max_abs_diff": smoke["max_abs_diff"],
                      "smoke_latency_ms": smoke["latency_ms"]})
    step.log_params({"serving_dir": serving_dir, "model_name": name, "version": version})
    return {"served": True, "model_name": name, "version": version, "sha256": sha, "path": published,
            "previous_version": deployment["previous_version"], "deployment": ref}


if __name__ == "__main__":
    run_step(main)
