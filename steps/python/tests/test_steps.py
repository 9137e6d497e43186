"""Each step end to end through the protocol: input JSON in, files out, exit code — as the process
runtime runs it. `pipeline` (conftest) is one run of extract → prepare → train → evaluate."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script

FEATURES = 30


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class TestExtract:
    def test_slice(self, pipeline):
        run = pipeline["extract"]
        assert run.ret == {"dataset": {"$artifact_out": "dataset"}, "rows": 341, "columns": FEATURES + 1}
        assert run.metrics["rows"] == 341 and run.metrics["columns"] == 31
        art = run.artifact("dataset")
        assert (art["type"], art["format"], art["path"]) == ("dataset", "csv", "dataset.csv")
        data = rows(run.out / "dataset.csv")
        assert len(data) == 341 and list(data[0])[-1] == "target" and "mean_radius" in data[0]
        assert run.params["fraction"] == 0.6 and run.params["dataset"] == "breast_cancer"

    def test_deterministic_and_incremental(self, pipeline, tmp_path):
        again = run_script("extract.py", {"params": {"fraction": 0.6, "seed": 0}}, tmp_path / "a")
        assert sha(again.out / "dataset.csv") == sha(pipeline["extract"].out / "dataset.csv")
        full = run_script("extract.py", {"params": {"fraction": 1.0, "seed": 0}}, tmp_path / "b")
        assert full.ret["rows"] == 569
        small = {tuple(r.values()) for r in rows(again.out / "dataset.csv")}
        assert small <= {tuple(r.values()) for r in rows(full.out / "dataset.csv")}, "a larger fraction must contain the smaller slice"

    def test_shift(self, pipeline, tmp_path):
        run = run_script("extract.py", {"params": {"fraction": 0.6, "shift": {"columns": ["mean_radius"], "offset_std": 2.0}}}, tmp_path)
        assert run.rc == 0, run.stderr
        base, shifted = rows(pipeline["extract"].out / "dataset.csv"), rows(run.out / "dataset.csv")
        deltas = {round(float(s["mean_radius"]) - float(b["mean_radius"]), 6) for b, s in zip(base, shifted)}
        assert len(deltas) == 1 and 6.5 < deltas.pop() < 7.5  # 2 σ of mean radius (σ ≈ 3.52)
        assert all(b["mean_texture"] == s["mean_texture"] for b, s in zip(base, shifted))
        assert run.params["shifted_columns"] == 1

    @pytest.mark.parametrize("params,error", [
        ({"fraction": 0}, "input.params.fraction: expected 0 < fraction <= 1, got 0"),
        ({"fraction": "all"}, 'input.params.fraction: expected number (default 1.0), got string "all"'),
        ({"fractoin": 0.5}, "input.params: unknown parameter(s) ['fractoin']"),
        ({"shift": {"columns": ["nope"]}}, "input.params.shift.columns: unknown feature(s) ['nope']"),
        ({"shift": {"offset": 1}}, "input.params.shift: unknown field(s) ['offset']"),
    ])
    def test_bad_params(self, tmp_path, params, error):
        run = run_script("extract.py", {"params": params}, tmp_path)
        assert run.rc == 98
        assert error in run.stderr


class TestPrepare:
    def test_stratified_split(self, pipeline):
        run = pipeline["prepare"]
        assert run.ret["train_rows"] == 272 and run.ret["test_rows"] == 69
        train, test = rows(run.out / "train.csv"), rows(run.out / "test.csv")
        data = rows(pipeline["extract"].out / "dataset.csv")
        as_set = lambda rs: sorted(tuple(r.values()) for r in rs)  # noqa: E731
        assert as_set(train + test) == as_set(data), "train and test partition the data set"
        pos = lambda rs: sum(r["target"] == "1" for r in rs) / len(rs)  # noqa: E731
        assert abs(pos(train) - pos(test)) < 0.02, "stratified: the same class balance"
        stats = json.loads((run.out / "reference_stats.json").read_text())
        assert stats["rows"] == 272 and len(stats["columns"]) == FEATURES and stats["label_values"] == [0, 1]
        radius = [float(r["mean_radius"]) for r in train]
        col = stats["columns"]["mean_radius"]
        assert col["min"] == min(radius) and col["max"] == max(radius) and len(col["quantiles"]) == 11
        assert {a["name"]: a["type"] for a in run.result["artifacts"]} == {"train": "dataset", "test": "dataset", "reference_stats": "report"}

    def test_deterministic(self, pipeline, tmp_path):
        again = run_script("prepare.py", {"dataset": pipeline["extract"].ref("dataset")}, tmp_path)
        for name in ("train.csv", "test.csv", "reference_stats.json"):
            assert sha(again.out / name) == sha(pipeline["prepare"].out / name)

    def test_missing_input_artifact(self, tmp_path):
        run = run_script("prepare.py", {"params": {}}, tmp_path)
        assert run.rc == 98
        assert "input.dataset: missing; expected an artifact reference" in run.stderr

    def test_not_a_table(self, tmp_path):
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b\nx,1\n")
        run = run_script("prepare.py", {"dataset": {"$artifact": {"path": str(bad)}}}, tmp_path / "run")
        assert run.rc == 98
        assert "input.dataset: the table has no label column 'target'" in run.stderr


class TestTrain:
    def test_model_and_registration(self, pipeline):
        run = pipeline["train"]
        model = run.artifact("model")
        assert (model["type"], model["format"], model["register"]["model"]) == ("model", "onnx", "breast_cancer_classifier")
        sig = model["register"]["signature"]
        assert sig["inputs"][0]["shape"] == [-1, FEATURES] and len(sig["inputs"][0]["columns"]) == FEATURES
        assert [o["name"] for o in sig["outputs"]] == ["label", "probabilities"]
        assert run.ret["model_sha256"] == sha(run.out / "model.onnx")
        assert run.ret["reproducible"] is True and run.params["reproducible"] is True
        for key in ("sklearn_version", "skl2onnx_version", "onnx_version", "onnxruntime_version", "C", "solver", "max_iter"):
            assert key in run.params
        assert 0.95 < run.metrics["train_accuracy"] <= 1.0
        assert run.metrics["onnx_max_abs_diff"] < 1e-5

    def test_preprocessing_is_inside_the_graph(self, pipeline):
        import onnx

        graph = onnx.load(str(pipeline["train"].out / "model.onnx")).graph
        assert [n.op_type for n in graph.node][:2] == ["Scaler", "LinearClassifier"]
        assert [i.name for i in graph.input] == ["input"]

    def test_byte_identical_on_the_same_data_and_params(self, pipeline, tmp_path):
        again = run_script("train.py", {"train": pipeline["prepare"].ref("train")}, tmp_path)
        assert again.rc == 0, again.stderr
        assert (again.out / "model.onnx").read_bytes() == (pipeline["train"].out / "model.onnx").read_bytes()

    def test_other_params_other_model(self, pipeline, tmp_path):
        other = run_script("train.py", {"train": pipeline["prepare"].ref("train"), "params": {"C": 0.01}}, tmp_path)
        assert other.rc == 0, other.stderr
        assert other.ret["model_sha256"] != pipeline["train"].ret["model_sha256"]
        assert other.params["C"] == 0.01

    @pytest.mark.parametrize("params,error", [
        ({"C": -1}, "input.params.C: expected a positive number, got -1.0"),
        ({"solver": "adam"}, "input.params.solver: expected one of lbfgs"),
        ({"class_weight": "heavy"}, 'input.params.class_weight: expected null or "balanced"'),
    ])
    def test_bad_params(self, pipeline, tmp_path, params, error):
        run = run_script("train.py", {"train": pipeline["prepare"].ref("train"), "params": params}, tmp_path)
        assert run.rc == 98 and error in run.stderr


class TestEvaluate:
    def test_metrics_from_the_onnx_file(self, pipeline):
        run = pipeline["evaluate"]
        assert run.ret["evaluation"] == {"$artifact_out": "evaluation"} and run.ret["golden"] == {"$artifact_out": "golden"}
        got = run.ret["metrics"]
        assert set(got) == {"accuracy", "f1", "roc_auc", "log_loss", "precision", "recall"}
        assert got == {k: run.metrics[k] for k in got}
        assert got["accuracy"] > 0.9 and got["roc_auc"] > 0.95 and 0 < got["log_loss"] < 0.5
        # Recompute from the ONNX file and the test table, independently of the step.
        import onnxruntime as ort

        test = rows(pipeline["prepare"].out / "test.csv")
        X = np.array([[float(v) for k, v in r.items() if k != "target"] for r in test], dtype=np.float32)
        y = np.array([int(r["target"]) for r in test])
        sess = ort.InferenceSession(str(pipeline["train"].out / "model.onnx"), providers=["CPUExecutionProvider"])
        label, _ = sess.run(None, {"input": X})
        assert math.isclose(got["accuracy"], float(np.mean(label == y)))
        report = json.loads((run.out / "evaluation.json").read_text())
        assert report["model_sha256"] == pipeline["train"].ret["model_sha256"] and report["scored_with"] == "onnxruntime"
        assert sum(map(sum, report["confusion_matrix"]["matrix"])) == len(test)
        golden = json.loads((run.out / "golden.json").read_text())
        assert len(golden["rows"]) == 8 and golden["rows"][0]["label"] == int(label[0])

    def test_not_an_onnx_file(self, pipeline, tmp_path):
        fake = tmp_path / "model.onnx"
        fake.write_bytes(b"not a model")
        run = run_script("evaluate.py", {"model": {"$artifact": {"path": str(fake)}}, "test": pipeline["prepare"].ref("test")}, tmp_path / "run")
        assert run.rc == 98 and "input.model: onnxruntime cannot load" in run.stderr

    def test_columns_must_match_the_model(self, pipeline, tmp_path):
        test = pipeline["prepare"].out / "test.csv"
        lines = test.read_text().splitlines()
        swapped = tmp_path / "swapped.csv"
        header = lines[0].split(",")
        header[0], header[1] = header[1], header[0]
        swapped.write_text("\n".join([",".join(header), *lines[1:]]) + "\n")
        run = run_script("evaluate.py", {"model": pipeline["train"].ref("model"), "test": {"$artifact": {"path": str(swapped)}}}, tmp_path / "run")
        assert run.rc == 98 and "the table's columns do not match the model's features (order differs)" in run.stderr


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A model trained on another slice (all rows): the champion of TestEvaluateWithChampion."""
    base = tmp_path_factory.mktemp("champion")
    extract = run_script("extract.py", {"params": {"fraction": 1.0, "seed": 0}}, base / "extract")
    prepare = run_script("prepare.py", {"dataset": extract.ref("dataset")}, base / "prepare")
    train = run_script("train.py", {"train": prepare.ref("train")}, base / "train")
    assert train.rc == 0, train.stderr
    return train


class TestEvaluateWithChampion:
    """`input.champion` (d.modelVersion()'s output): the champion's ONNX file scored on the SAME test rows."""

    @staticmethod
    def champion(ref: dict, version: int = 1) -> dict:
        return {"model": "breast_cancer_classifier", "version": version, "alias": "champion", "artifact": ref}

    def test_scores_the_champion_on_the_same_rows(self, pipeline, other_model, tmp_path):
        test_ref = pipeline["prepare"].ref("test")
        run = run_script("evaluate.py", {"model": pipeline["train"].ref("model"), "test": test_ref,
                                         "champion": self.champion(other_model.ref("model"), 3)}, tmp_path / "run")
        assert run.rc == 0, run.stderr
        # The candidate's metrics do not change with a champion beside it.
        assert run.ret["metrics"] == pipeline["evaluate"].ret["metrics"]
        # The champion's equal what evaluating its file as the candidate on these rows gives ...
        alone = run_script("evaluate.py", {"model": other_model.ref("model"), "test": test_ref}, tmp_path / "alone")
        assert alone.rc == 0, alone.stderr
        assert run.ret["baseline"] == {"version": 3, "metrics": alone.ret["metrics"]}
        # ... and an independent onnxruntime pass over the same table.
        import onnxruntime as ort

        test = rows(pipeline["prepare"].out / "test.csv")
        X = np.array([[float(v) for k, v in r.items() if k != "target"] for r in test], dtype=np.float32)
        y = np.array([int(r["target"]) for r in test])
        sess = ort.InferenceSession(str(other_model.out / "model.onnx"), providers=["CPUExecutionProvider"])
        label, _ = sess.run(None, {"input": X})
        assert math.isclose(run.ret["baseline"]["metrics"]["accuracy"], float(np.mean(label == y)))
        # The champion trained on other rows (some of these among them): not its own recorded numbers.
        assert run.ret["baseline"]["metrics"] != pipeline["evaluate"].ret["metrics"]
        assert {k: run.metrics[f"baseline_{k}"] for k in run.ret["baseline"]["metrics"]} == run.ret["baseline"]["metrics"]
        assert run.params["baseline_version"] == 3
        report = json.loads((run.out / "evaluation.json").read_text())
        assert report["baseline"]["version"] == 3 and report["baseline"]["metrics"] == run.ret["baseline"]["metrics"]
        assert report["baseline"]["model_sha256"] == other_model.ret["model_sha256"]
        assert sum(map(sum, report["baseline"]["confusion_matrix"]["matrix"])) == len(test)
        # golden.json stays the candidate's (serve replays the candidate).
        golden = json.loads((run.out / "golden.json").read_text())
        assert golden["model_sha256"] == pipeline["train"].ret["model_sha256"]

    @pytest.mark.parametrize("given", [{"champion": None}, {}])
    def test_no_champion(self, pipeline, tmp_path, given):
        run = run_script("evaluate.py", {"model": pipeline["train"].ref("model"), "test": pipeline["prepare"].ref("test"),
                                         **given}, tmp_path)
        assert run.rc == 0, run.stderr
        assert run.ret["baseline"] is None and run.ret["metrics"] == pipeline["evaluate"].ret["metrics"]
        assert not any(name.startswith("baseline_") for name in run.metrics) and "baseline_version" not in run.params
        assert json.loads((run.out / "evaluation.json").read_text())["baseline"] is None

    def test_a_champion_on_other_features_fails_naming_it(self, pipeline, tmp_path):
        # A champion trained when a column had another name cannot score the new table's rows.
        train_csv = pipeline["prepare"].out / "train.csv"
        lines = train_csv.read_text().splitlines()
        renamed = tmp_path / "train.csv"
        renamed.write_text("\n".join([lines[0].replace("mean_radius", "radius_mean", 1), *lines[1:]]) + "\n")
        old = run_script("train.py", {"train": {"$artifact": {"path": str(renamed)}}}, tmp_path / "old")
        assert old.rc == 0, old.stderr
        run = run_script("evaluate.py", {"model": pipeline["train"].ref("model"), "test": pipeline["prepare"].ref("test"),
                                         "champion": self.champion(old.ref("model"), 2)}, tmp_path / "run")
        assert run.rc == 98
        assert ("input.champion: the table's columns do not match the champion breast_cancer_classifier@2's features "
                "(missing ['radius_mean'])") in run.stderr

    @pytest.mark.parametrize("champion,error", [
        (3, "input.champion: expected null or {model, version, alias, artifact} (d.modelVersion()'s output), got int"),
        ({"version": "1", "artifact": {}}, 'input.champion.version: expected a version number >= 1, got "1"'),
        ({"version": 1}, "input.champion.artifact: missing"),
        ({"version": 1, "artifact": {"sha256": "x"}}, "input.champion.artifact: expected an artifact reference"),
    ])
    def test_bad_champion_input(self, pipeline, tmp_path, champion, error):
        run = run_script("evaluate.py", {"model": pipeline["train"].ref("model"), "test": pipeline["prepare"].ref("test"),
                                         "champion": champion}, tmp_path)
        assert run.rc == 98 and error in run.stderr


class TestServe:
    def inputs(self, pipeline, serving, **params):
        return {"model": pipeline["train"].ref("model"), "golden": pipeline["evaluate"].ref("golden"),
                "params": {"serving_dir": str(serving), **params}}

    def test_publish_and_smoke_test(self, pipeline, tmp_path):
        serving = tmp_path / "serving"
        run = run_script("serve.py", self.inputs(pipeline, serving), tmp_path / "run")
        assert run.rc == 0, run.stderr
        version = pipeline["train"].ret["model_sha256"][:12]
        assert run.ret["served"] is True and run.ret["version"] == version and run.ret["previous_version"] is None
        published = serving / "breast_cancer_classifier" / version / "model.onnx"
        assert published.read_bytes() == (pipeline["train"].out / "model.onnx").read_bytes()
        pointer = json.loads((serving / "breast_cancer_classifier" / "deployment.json").read_text())
        assert pointer["version"] == version and pointer["smoke_test"]["passed"] is True
        assert run.metrics["smoke_rows"] == 8 and run.metrics["smoke_max_abs_diff"] < 1e-5
        assert run.artifact("deployment")["metadata"]["kind"] == "deployment"
        second = run_script("serve.py", self.inputs(pipeline, serving, version="v2"), tmp_path / "run2")
        assert second.rc == 0 and second.ret["previous_version"] == version

    def test_failed_smoke_test_keeps_the_previous_deployment(self, pipeline, tmp_path):
        serving = tmp_path / "serving"
        assert run_script("serve.py", self.inputs(pipeline, serving, version="v1"), tmp_path / "ok").rc == 0
        golden = json.loads((pipeline["evaluate"].out / "golden.json").read_text())
        golden["rows"][3]["label"] = 1 - golden["rows"][3]["label"]
        bad = tmp_path / "golden.json"
        bad.write_text(json.dumps(golden))
        inputs = self.inputs(pipeline, serving, version="v2")
        inputs["golden"] = {"$artifact": {"path": str(bad)}}
        run = run_script("serve.py", inputs, tmp_path / "bad")
        assert run.rc == 98 and "smoke test: golden row 3: the served model answered label" in run.stderr
        assert json.loads((serving / "breast_cancer_classifier" / "deployment.json").read_text())["version"] == "v1"
        assert not (serving / "breast_cancer_classifier" / "v2").exists()

    def test_needs_a_serving_dir(self, pipeline, tmp_path):
        inputs = self.inputs(pipeline, tmp_path)
        del inputs["params"]["serving_dir"]
        run = run_script("serve.py", inputs, tmp_path / "run")
        assert run.rc == 98 and "input.params.serving_dir: required (or set $UPDRAFT_SERVING_DIR)" in run.stderr


class TestMonitor:
    def test_no_drift_on_an_identical_slice(self, pipeline, tmp_path):
        train = pipeline["prepare"].ref("train")
        run = run_script("monitor.py", {"reference": train, "current": train}, tmp_path)
        assert run.rc == 0, run.stderr
        assert run.ret["drift"] is False and run.ret["drifted_columns"] == [] and run.ret["method"] == "ks"
        assert run.metrics["psi_max"] == 0.0 and run.metrics["ks_statistic_max"] == 0.0 and run.metrics["ks_pvalue_min"] == 1.0

    def test_no_drift_on_more_of_the_same_data(self, pipeline, tmp_path):
        full = run_script("extract.py", {"params": {"fraction": 1.0}}, tmp_path / "extract")
        run = run_script("monitor.py", {"reference": pipeline["prepare"].ref("train"), "current": full.ref("dataset")}, tmp_path / "run")
        assert run.rc == 0 and run.ret["drift"] is False and run.metrics["psi_max"] < 0.1

    def test_drift_on_a_shifted_slice(self, pipeline, tmp_path):
        shifted = run_script("extract.py", {"params": {"fraction": 1.0, "shift": {"offset_std": 1.0}}}, tmp_path / "extract")
        run = run_script("monitor.py", {"reference": pipeline["prepare"].ref("train"), "current": shifted.ref("dataset")}, tmp_path / "run")
        assert run.rc == 0, run.stderr
        assert run.ret["drift"] is True and run.ret["drift_share"] >= 0.5 and run.metrics["dataset_drift"] == 1
        report = json.loads((run.out / "drift_report.json").read_text())
        assert report["columns"]["mean_radius"]["drifted"] is True and report["columns"]["mean_radius"]["psi_band"] == "significant"
        # PSI decides when asked to: the same data, method psi.
        by_psi = run_script("monitor.py", {"reference": pipeline["prepare"].ref("train"), "current": shifted.ref("dataset"),
                                           "params": {"method": "psi"}}, tmp_path / "psi")
        assert by_psi.ret["drift"] is True and by_psi.ret["method"] == "psi"

    def test_one_shifted_column_is_not_dataset_drift(self, pipeline, tmp_path):
        shifted = run_script("extract.py", {"params": {"fraction": 1.0, "shift": {"columns": ["mean_radius"], "offset_std": 1.0}}}, tmp_path / "e")
        run = run_script("monitor.py", {"reference": pipeline["prepare"].ref("train"), "current": shifted.ref("dataset")}, tmp_path / "run")
        assert run.ret["drifted_columns"] == ["mean_radius"] and run.ret["drift"] is False

    def test_bad_params(self, pipeline, tmp_path):
        train = pipeline["prepare"].ref("train")
        run = run_script("monitor.py", {"reference": train, "current": train, "params": {"method": "chi2"}}, tmp_path)
        assert run.rc == 98 and "input.params.method: expected one of auto, ks, psi, got 'chi2'" in run.stderr


class TestMalformedInput:
    def test_input_not_json(self, tmp_path):
        run = run_script("extract.py", None, tmp_path, raw_input="{not json")
        assert run.rc == 98 and "is not valid JSON: Expecting property name" in run.stderr

    def test_input_not_an_object(self, tmp_path):
        run = run_script("extract.py", [1, 2], tmp_path)
        assert run.rc == 98 and "must be a JSON object, got list" in run.stderr

    def test_unknown_top_level_key(self, tmp_path):
        run = run_script("train.py", {"trian": {"$artifact": {"path": "x"}}}, tmp_path)
        assert run.rc == 98 and "input: unknown key(s) ['trian']; this step takes ['params', 'train']" in run.stderr

    def test_artifact_not_materialized(self, tmp_path):
        run = run_script("train.py", {"train": {"$artifact": {"path": str(tmp_path / "gone.csv"), "name": "train"}}}, tmp_path / "run")
        assert run.rc == 98 and "input.train.$artifact.path:" in run.stderr and "is not a file" in run.stderr

    def test_env_input_is_read(self, tmp_path):
        run = run_script("extract.py", None, tmp_path, env={"UPDRAFT_INPUT": '{"params": {"fraction": 0.1}}'})
        assert run.rc == 0 and run.ret["rows"] == 57


class TestValidateData:
    """The R step on the pipeline's real data; its output folder must pass the same protocol check
    as the Python steps' (conftest reads it with check_output_dir)."""

    def test_the_extracted_slice_is_valid(self, pipeline, tmp_path):
        run = run_script("validate_data.R", {"dataset": pipeline["extract"].ref("dataset")}, tmp_path)
        assert run.rc == 0, run.stderr
        assert run.ret == {"valid": True, "rows": 341, "columns": 31, "warnings": 0,
                           "report": {"$artifact_out": "validation_report"}}
        assert run.metrics["errors"] == 0 and run.metrics["rows"] == 341
        assert run.artifact("validation_report")["type"] == "report"

    def test_against_the_training_reference(self, pipeline, tmp_path):
        inputs = {"dataset": pipeline["extract"].ref("dataset"), "reference": pipeline["prepare"].ref("reference_stats")}
        run = run_script("validate_data.R", inputs, tmp_path)
        assert run.rc == 0, run.stderr
        assert 0 < run.metrics["out_of_range_frac_max"] < 0.05  # the test rows reach a little past train's range

    def test_a_shifted_slice_fails_a_strict_range_check(self, pipeline, tmp_path):
        shifted = run_script("extract.py", {"params": {"fraction": 1.0, "shift": {"offset_std": 1.0}}}, tmp_path / "e")
        inputs = {"dataset": shifted.ref("dataset"), "reference": pipeline["prepare"].ref("reference_stats"),
                  "params": {"range_check": "fail"}}
        run = run_script("validate_data.R", inputs, tmp_path / "run")
        assert run.rc == 98 and "the data set is invalid" in run.stderr and "outside the reference range" in run.stderr
        report = json.loads((run.out / "validation_report.json").read_text())
        assert report["valid"] is False and all(e["check"] == "range" for e in report["errors"])
