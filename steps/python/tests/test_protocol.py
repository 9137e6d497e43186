"""The helper library's rules (ML-DESIGN.md §1): what it accepts, what it refuses and how it says so."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from updraft_step import FAIL_EXIT_CODE, SKIP_EXIT_CODE, FailStep, InputError, ProtocolError, Step, resolve_ref
from updraft_step import protocol
from updraft_step.step import manifest_mode, output_dir, read_input

STEPS = Path(__file__).resolve().parent.parent


def make_step(tmp_path: Path, task_input=None, env=None) -> Step:
    return Step(task_input, str(tmp_path / "out"), env or {}, "test input")


class TestMetrics:
    @pytest.mark.parametrize("name", ["accuracy", "train/loss", "a.b-c_d", "x" * 250])
    def test_accepts_mlflow_names(self, tmp_path, name):
        step = make_step(tmp_path)
        step.log_metric(name, 0.5, step=3)
        line = json.loads((tmp_path / "out" / "metrics.jsonl").read_text())
        assert line == {"name": name, "value": 0.5, "step": 3}

    @pytest.mark.parametrize("name", ["", "has space", "x" * 251, "emoji✓", 7])
    def test_refuses_bad_names(self, tmp_path, name):
        with pytest.raises(ProtocolError, match=r"metrics.jsonl: field 'name': invalid name"):
            make_step(tmp_path).log_metric(name, 1.0)

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.9", True, None])
    def test_refuses_non_finite_or_non_numbers(self, tmp_path, value):
        with pytest.raises(ProtocolError, match=r"field 'value' of metric 'acc'"):
            make_step(tmp_path).log_metric("acc", value)

    @pytest.mark.parametrize("step_value", [-1, 1.5, True])
    def test_refuses_bad_steps(self, tmp_path, step_value):
        with pytest.raises(ProtocolError, match=r"field 'step' of metric 'acc': expected an integer >= 0"):
            make_step(tmp_path).log_metric("acc", 1.0, step=step_value)

    def test_a_curve_repeats_a_name(self, tmp_path):
        step = make_step(tmp_path)
        for i, v in enumerate([0.9, 0.5, 0.3]):
            step.log_metric("loss", v, step=i)
        records = protocol.read_metrics(str(tmp_path / "out" / "metrics.jsonl"))
        assert [(r["step"], r["value"]) for r in records] == [(0, 0.9), (1, 0.5), (2, 0.3)]

    @pytest.mark.parametrize("line,error", [
        ('{"name": "a", "value": 1}\nnot json\n', r"metrics.jsonl line 2: not valid JSON"),
        ('{"name": "a", "value": 1}\n{"name": "b"}\n', r"metrics.jsonl line 2: field 'value' is missing"),
        ('[1, 2]\n', r"metrics.jsonl line 1: expected an object"),
        ('{"name": "a", "value": 1, "unit": "s"}\n', r"metrics.jsonl line 1: unknown field\(s\) \['unit'\]"),
        ('{"name": "a", "value": NaN}\n', r"metrics.jsonl line 1: field 'value' of metric 'a': expected a finite number"),
        ('{"name": "a", "value": 1, "timestamp": "yesterday"}\n', r"metrics.jsonl line 1: field 'timestamp'"),
    ])
    def test_reading_names_the_line_and_field(self, tmp_path, line, error):
        path = tmp_path / "metrics.jsonl"
        path.write_text(line)
        with pytest.raises(ProtocolError, match=error):
            protocol.read_metrics(str(path))


class TestParams:
    def test_flat_values(self, tmp_path):
        step = make_step(tmp_path)
        step.log_params({"C": 1.0, "solver": "lbfgs", "fit_intercept": True, "max_iter": 100})
        step.finish(None)
        assert json.loads((tmp_path / "out" / "params.json").read_text()) == {
            "C": 1.0, "solver": "lbfgs", "fit_intercept": True, "max_iter": 100}

    @pytest.mark.parametrize("value,error", [
        ({"nested": 1}, r"params.json: param 'p': expected a string, number or boolean \(params are flat\), got dict"),
        ([1, 2], r"got list"),
        (float("nan"), r"expected a finite number"),
        ("x" * 6001, r"at most 6000"),
    ])
    def test_refuses(self, tmp_path, value, error):
        with pytest.raises(ProtocolError, match=error):
            make_step(tmp_path).log_param("p", value)

    def test_conflicting_values(self, tmp_path):
        step = make_step(tmp_path)
        step.log_param("C", 1.0)
        step.log_param("C", 1.0)
        with pytest.raises(ProtocolError, match="logged twice with different values"):
            step.log_param("C", 2.0)


class TestArtifacts:
    def test_declares_and_returns_a_placeholder(self, tmp_path):
        step = make_step(tmp_path)
        Path(step.output_path("model.onnx")).write_bytes(b"onnx")
        ref = step.log_artifact("model", "model.onnx", "model", format="onnx", register={"model": "m", "signature": {"inputs": []}})
        assert ref == {"$artifact_out": "model"}
        step.finish({"model": ref})
        assert json.loads((tmp_path / "out" / "artifacts.json").read_text()) == {"outputs": [
            {"name": "model", "path": "model.onnx", "type": "model", "format": "onnx", "register": {"model": "m", "signature": {"inputs": []}}}]}
        assert json.loads((tmp_path / "out" / "return.json").read_text()) == {"model": {"$artifact_out": "model"}}

    @pytest.mark.parametrize("kwargs,error", [
        ({"path": "/etc/passwd"}, r"outputs\[0\].path: '/etc/passwd' is absolute"),
        ({"path": "../x.csv"}, r"outputs\[0\].path: '../x.csv' contains '..'"),
        ({"path": "missing.csv"}, r"outputs\[0\].path: 'missing.csv' does not exist in the output folder"),
        ({"path": "sub"}, r"outputs\[0\].path: 'sub' is a directory; protocol v1 stores files only"),
        ({"type": "table"}, r"outputs\[0\].type: expected one of model, dataset, report, other, got 'table'"),
        ({"format": "Not A Format"}, r"outputs\[0\].format"),
        ({"name": "bad name"}, r"outputs\[0\].name: invalid name"),
        ({"register": {"model": "m"}}, r"outputs\[0\].register: only an artifact of type 'model'"),
        ({"type": "model", "register": {"name": "m"}}, r"outputs\[0\].register: unknown field\(s\) \['name'\]"),
        ({"metadata": {"x": float("nan")}}, r"outputs\[0\].metadata: not JSON-serializable"),
    ])
    def test_refuses(self, tmp_path, kwargs, error):
        step = make_step(tmp_path)
        Path(step.output_path("data.csv")).write_text("a\n1\n")
        os.makedirs(step.output_path("sub"))
        args = {"name": "data", "path": "data.csv", "type": "dataset", **kwargs}
        with pytest.raises(ProtocolError, match=error):
            step.log_artifact(**args)

    def test_names_are_unique(self, tmp_path):
        step = make_step(tmp_path)
        Path(step.output_path("a.csv")).write_text("a\n")
        step.log_artifact("data", "a.csv", "dataset")
        with pytest.raises(ProtocolError, match=r"outputs\[1\].name: 'data' is declared twice"):
            step.log_artifact("data", "a.csv", "dataset")

    def test_return_may_not_name_an_undeclared_output(self, tmp_path):
        with pytest.raises(ProtocolError, match=r"return.json: return.model refers to output 'model', which no log_artifact declared"):
            make_step(tmp_path).finish({"model": {"$artifact_out": "model"}})

    def test_a_file_written_by_hand_is_checked_like_the_worker_does(self, tmp_path):
        (tmp_path / "artifacts.json").write_text(json.dumps({"outputs": [{"name": "m", "path": "gone.onnx", "type": "model"}]}))
        with pytest.raises(ProtocolError, match=r"artifacts.json: outputs\[0\].path: 'gone.onnx' does not exist"):
            protocol.check_output_dir(str(tmp_path))
        (tmp_path / "artifacts.json").write_text('{"outputs": [}')
        with pytest.raises(ProtocolError, match=r"artifacts.json: not valid JSON at line 1"):
            protocol.check_output_dir(str(tmp_path))


class TestInput:
    def test_env_then_file_then_default(self, tmp_path):
        f = tmp_path / "in.json"
        f.write_text('{"from": "file"}')
        assert read_input({"UPDRAFT_INPUT": '{"from": "env"}', "UPDRAFT_INPUT_FILE": str(f)}) == ({"from": "env"}, "$UPDRAFT_INPUT")
        assert read_input({"UPDRAFT_INPUT_FILE": str(f)}) == ({"from": "file"}, str(f))
        assert read_input({"UPDRAFT_INPUT": "", "UPDRAFT_INPUT_FILE": str(f)}) == ({"from": "file"}, str(f))

    def test_missing_input_says_how_to_give_one(self, tmp_path):
        with pytest.raises(InputError, match=r"no task input: \$UPDRAFT_INPUT is unset and .*nope.json does not exist"):
            read_input({"UPDRAFT_INPUT_FILE": str(tmp_path / "nope.json")})

    def test_malformed_json_names_the_source(self):
        with pytest.raises(InputError, match=r"the task input \(\$UPDRAFT_INPUT\) is not valid JSON: .* line 1 column 2"):
            read_input({"UPDRAFT_INPUT": "{oops"})

    def test_output_dir_order(self):
        assert output_dir({"UPDRAFT_OUTPUT_DIR": "/a", "UPDRAFT_XCOM_DIR": "/b"}) == "/a"
        assert output_dir({"UPDRAFT_XCOM_DIR": "/b"}) == "/b"
        assert output_dir({"UPDRAFT_RETURN_FILE": "/updraft/xcom/return.json"}) == "/updraft/xcom"
        assert output_dir({}) == "/updraft/xcom"

    def test_params_merge_and_check(self, tmp_path):
        step = make_step(tmp_path, {"params": {"C": 2, "solver": "saga"}})
        assert step.params({"C": 1.0, "solver": "lbfgs", "n": 3}) == {"C": 2.0, "solver": "saga", "n": 3}
        with pytest.raises(InputError, match=r"input.params: unknown parameter\(s\) \['solver'\]; this step takes \['C'\]"):
            step.params({"C": 1.0})
        bad = make_step(tmp_path, {"params": {"n": "3"}})
        with pytest.raises(InputError, match=r'input.params.n: expected integer \(default 3\), got string "3"'):
            bad.params({"n": 3})
        with pytest.raises(InputError, match=r"input.params.flag: expected boolean"):
            make_step(tmp_path, {"params": {"flag": 1}}).params({"flag": False})
        with pytest.raises(InputError, match=r"the task input \(test input\) must be a JSON object, got list"):
            make_step(tmp_path, [1]).params({})

    def test_params_from_env_under_input(self, tmp_path):
        env = {"UPDRAFT_STEP_PARAMS": '{"fraction": 1, "seed": 3, "shift": {"offset_std": 1.0}}'}
        defaults = {"fraction": 1.0, "seed": 0, "shift": None}
        assert make_step(tmp_path, None, env).params(defaults) == {"fraction": 1.0, "seed": 3, "shift": {"offset_std": 1.0}}
        # The input's own params win over the DAG's; a null there leaves the env's value.
        step = make_step(tmp_path, {"params": {"seed": 7, "shift": None}}, env)
        assert step.params(defaults) == {"fraction": 1.0, "seed": 7, "shift": {"offset_std": 1.0}}
        assert make_step(tmp_path, None, {"UPDRAFT_STEP_PARAMS": ""}).params(defaults) == defaults
        with pytest.raises(InputError, match=r"\$UPDRAFT_STEP_PARAMS is not valid JSON"):
            make_step(tmp_path, None, {"UPDRAFT_STEP_PARAMS": "{fraction"}).params(defaults)
        with pytest.raises(InputError, match=r"\$UPDRAFT_STEP_PARAMS: unknown parameter\(s\) \['fracton'\]"):
            make_step(tmp_path, None, {"UPDRAFT_STEP_PARAMS": '{"fracton": 1}'}).params(defaults)
        with pytest.raises(InputError, match=r'\$UPDRAFT_STEP_PARAMS.seed: expected integer \(default 0\), got string "3"'):
            make_step(tmp_path, None, {"UPDRAFT_STEP_PARAMS": '{"seed": "3"}'}).params(defaults)
        with pytest.raises(InputError, match=r"\$UPDRAFT_STEP_PARAMS: expected an object, got list"):
            make_step(tmp_path, None, {"UPDRAFT_STEP_PARAMS": "[1]"}).params(defaults)

    def test_unknown_top_level_keys(self, tmp_path):
        with pytest.raises(InputError, match=r"input: unknown key\(s\) \['tets'\]; this step takes \['params', 'test'\]"):
            make_step(tmp_path, {"tets": 1}).check_keys({"test"})


class TestArtifactRefs:
    def test_path_file_uri_and_hash_check(self, tmp_path):
        f = tmp_path / "d.csv"
        f.write_bytes(b"a,b\n1,2\n")
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        assert resolve_ref({"$artifact": {"path": str(f), "sha256": sha}}, "input.d") == str(f)
        assert resolve_ref({"$artifact": {"uri": f"file://{f}", "sha256": sha}}, "input.d") == str(f)
        with pytest.raises(FailStep, match=r"input.d: the file .* has sha256 .*, the reference says 0{64}: refusing corrupted input"):
            resolve_ref({"$artifact": {"path": str(f), "sha256": "0" * 64}}, "input.d")

    @pytest.mark.parametrize("value,error", [
        ("d.csv", r"input.d: expected an artifact reference"),
        ({"$artifact": {"name": "d"}}, r"input.d.\$artifact: has neither 'path' .* nor 'uri'"),
        ({"$artifact": {"path": "/nonexistent/d.csv"}}, r"input.d.\$artifact.path: '/nonexistent/d.csv' is not a file"),
        ({"$artifact": {"uri": "gs://b/k"}}, r"input.d.\$artifact.uri: unsupported scheme"),
        ({"$artifact": {"path": "x", "sha256": "XYZ"}}, r"input.d.\$artifact.sha256: expected 64 lower-case hex digits"),
    ])
    def test_refuses(self, value, error):
        with pytest.raises(InputError, match=error):
            resolve_ref(value, "input.d")

    def test_every_ref_in_the_input_is_found(self, tmp_path):
        step = make_step(tmp_path, {"a": {"$artifact": {"path": "x"}}, "b": [{"c": {"$artifact": {"path": "y"}}}], "params": {}})
        assert [(w, r["path"]) for w, r in step.input_refs()] == [("input.a", "x"), ("input.b[0].c", "y")]


class TestOutletEvents:
    """Airflow's outlet_events[asset].extra from a process or container step: outlet_events.json."""

    def test_writes_the_extras_and_the_manifest_carries_them(self, tmp_path):
        step = make_step(tmp_path)
        step.outlet_event("s3://lake/raw", {"rows": 1})
        step.outlet_event("s3://lake/raw", {"rows": 2})  # a later call replaces the extra
        step.outlet_event("file:///data/out", {})
        step.finish(None)
        written = json.loads((tmp_path / "out" / "outlet_events.json").read_text())
        assert written == {"s3://lake/raw": {"extra": {"rows": 2}}, "file:///data/out": {"extra": {}}}
        assert protocol.check_output_dir(str(tmp_path / "out"))["outlet_events"] == written
        store = tmp_path / "store"
        m = Step(None, str(tmp_path / "m"), {"UPDRAFT_OUTPUT_MANIFEST": "1", "UPDRAFT_ARTIFACT_STORE": f"file://{store}"}, "t")
        m.outlet_event("s3://lake/raw", {"rows": 3})
        m.finish(None)
        assert json.loads((tmp_path / "m" / "return.json").read_text())["outlet_events"] == {"s3://lake/raw": {"extra": {"rows": 3}}}

    @pytest.mark.parametrize(
        "uri, extra, error",
        [
            ("", {}, r"outlet uri must be a string of 1..1500"),
            ("s3://x", [1], r"must be an object, got list"),
            ("s3://x", {"v": float("nan")}, r"not JSON-serializable"),
            ("s3://x", {"blob": "x" * 70000}, r"at most 65536"),
        ],
    )
    def test_refuses(self, tmp_path, uri, extra, error):
        with pytest.raises(ProtocolError, match=error):
            make_step(tmp_path).outlet_event(uri, extra) if isinstance(extra, dict) else protocol.check_outlet_extra(uri, extra)

    def test_a_file_written_by_hand_is_checked(self, tmp_path):
        out = tmp_path / "out"
        out.mkdir()
        (out / "outlet_events.json").write_text('{"s3://x": {"extras": {}}}')
        with pytest.raises(ProtocolError, match=r'outlet_events.json: \[0\]: expected \{"extra"'):
            protocol.check_output_dir(str(out))


class TestManifest:
    """Kubernetes: the outputs travel as the termination message; the step puts the bytes in the store."""

    def test_mode(self):
        assert manifest_mode({"UPDRAFT_OUTPUT_MANIFEST": "1"})
        assert not manifest_mode({"UPDRAFT_OUTPUT_MANIFEST": "0", "UPDRAFT_ARTIFACT_STORE": "s3://b", "KUBERNETES_SERVICE_HOST": "x"})
        assert manifest_mode({"UPDRAFT_ARTIFACT_STORE": "s3://b/p", "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
        assert not manifest_mode({"UPDRAFT_ARTIFACT_STORE": "s3://b/p"})

    def test_puts_outputs_in_the_store_and_writes_the_manifest(self, tmp_path):
        store = tmp_path / "store"
        env = {"UPDRAFT_OUTPUT_MANIFEST": "1", "UPDRAFT_ARTIFACT_STORE": f"file://{store}"}
        step = make_step(tmp_path, env=env)
        Path(step.output_path("model.onnx")).write_bytes(b"model-bytes")
        sha = hashlib.sha256(b"model-bytes").hexdigest()
        ref = step.log_artifact("model", "model.onnx", "model", format="onnx", register={"model": "m"})
        step.log_metric("acc", 0.9)
        step.log_param("C", 1.0)
        step.finish({"model": ref, "acc": 0.9})
        manifest = json.loads((tmp_path / "out" / "return.json").read_text())
        uri = f"file://{store}/sha256/{sha[:2]}/{sha}"
        assert manifest == {
            "$updraft_manifest": 1,
            "return": {"model": {"$artifact": {"sha256": sha, "uri": uri, "name": "model", "type": "model", "format": "onnx", "size": 11}}, "acc": 0.9},
            "metrics": [{"name": "acc", "value": 0.9, "step": 0}],
            "params": {"C": 1.0},
            "artifacts": [{"name": "model", "type": "model", "format": "onnx", "register": {"model": "m"}, "sha256": sha, "uri": uri, "size": 11}],
        }
        assert (store / "sha256" / sha[:2] / sha).read_bytes() == b"model-bytes"

    def test_over_the_termination_message_limit(self, tmp_path):
        step = make_step(tmp_path, env={"UPDRAFT_OUTPUT_MANIFEST": "1", "UPDRAFT_ARTIFACT_STORE": f"file://{tmp_path}/s"})
        for i in range(100):
            step.log_metric(f"feature_{i:03d}_psi", 0.123456789)
        with pytest.raises(ProtocolError, match=r"the output manifest is \d+ bytes, over the 4096-byte termination-message limit"):
            step.finish(None)


SCRIPT = """
import sys
sys.path.insert(0, {steps!r})
from updraft_step import run_step, SkipStep, FailStep
def main(step):
    kind = step.params({{"kind": "ok"}})["kind"]
    if kind == "skip": raise SkipStep("nothing new")
    if kind == "fail": raise FailStep("bad data")
    if kind == "crash": raise RuntimeError("boom")
    return {{"ok": True}}
run_step(main)
"""


@pytest.mark.parametrize("kind,code,stderr", [
    ("ok", 0, ""),
    ("skip", SKIP_EXIT_CODE, "[updraft_step] skipped: nothing new"),
    ("fail", FAIL_EXIT_CODE, "[updraft_step] error: bad data"),
    ("crash", 1, "RuntimeError: boom"),
    ("typo", FAIL_EXIT_CODE, "input.params.kind"),
])
def test_exit_codes(tmp_path, kind, code, stderr):
    script = tmp_path / "s.py"
    script.write_text(SCRIPT.format(steps=str(STEPS)))
    params = {"kind": kind} if kind != "typo" else {"kind": 1}
    env = {"PATH": os.environ["PATH"], "UPDRAFT_INPUT": json.dumps({"params": params}), "UPDRAFT_OUTPUT_DIR": str(tmp_path / "out")}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr
    assert stderr in proc.stderr
    if code == 0:
        assert json.loads((tmp_path / "out" / "return.json").read_text()) == {"ok": True}


def test_check_cli(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"name": "a", "value": 1}\n{"name": "b c", "value": 2}\n')
    proc = subprocess.run([sys.executable, "-m", "updraft_step", "check", str(tmp_path)], cwd=STEPS, capture_output=True, text=True)
    assert proc.returncode == FAIL_EXIT_CODE
    assert "metrics.jsonl line 2: field 'name': invalid name 'b c'" in proc.stderr
    (tmp_path / "metrics.jsonl").write_text('{"name": "a", "value": 1}\n')
    proc = subprocess.run([sys.executable, "-m", "updraft_step", "check", str(tmp_path)], cwd=STEPS, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"] == [{"name": "a", "value": 1, "step": 0}]


def test_requirements_match_the_image():
    """The process runtime and the container image run the same pinned stack."""
    def pins(path):
        return sorted(l.strip() for l in Path(path).read_text().splitlines() if l.strip() and not l.startswith("#"))
    assert pins(STEPS / "requirements.txt") == pins(STEPS.parent.parent / "deploy/images/python/requirements.txt")
