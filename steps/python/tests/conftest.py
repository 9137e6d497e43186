"""Runs steps as Updraft does: a subprocess with the input JSON in a file (UPDRAFT_INPUT_FILE), an
empty output folder (UPDRAFT_XCOM_DIR), and the exit code read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

STEPS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(STEPS))

from updraft_step.protocol import check_output_dir  # noqa: E402


@dataclass
class Run:
    rc: int
    stderr: str
    out: Path
    result: dict

    @property
    def ret(self):
        return self.result["return"]

    @property
    def metrics(self) -> dict:
        return {m["name"]: m["value"] for m in self.result["metrics"]}

    @property
    def params(self) -> dict:
        return self.result["params"]

    def artifact(self, name: str) -> dict:
        return next(a for a in self.result["artifacts"] if a["name"] == name)

    def ref(self, name: str) -> dict:
        """The input ArtifactRef a downstream step would get for this output (path materialized)."""
        return {"$artifact": {"name": name, "path": str(self.out / self.artifact(name)["path"])}}


def run_script(script: str, task_input, tmp_path: Path, env: dict | None = None, raw_input: str | None = None) -> Run:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "xcom"
    out.mkdir()
    input_file = tmp_path / "input.json"
    input_file.write_text(raw_input if raw_input is not None else json.dumps(task_input))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("UPDRAFT_")}
    full_env.update({"UPDRAFT_INPUT_FILE": str(input_file), "UPDRAFT_XCOM_DIR": str(out), "PYTHONDONTWRITEBYTECODE": "1"})
    full_env.update(env or {})
    cmd = ["Rscript", str(STEPS.parent / "r" / script)] if script.endswith(".R") else [sys.executable, str(STEPS / script)]
    proc = subprocess.run(cmd, env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    result = check_output_dir(str(out)) if proc.returncode == 0 else {"return": None, "metrics": [], "params": {}, "artifacts": []}
    return Run(proc.returncode, proc.stderr, out, result)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """One run of extract(fraction 0.6) → prepare → train → evaluate, shared by the tests that read it."""
    base = tmp_path_factory.mktemp("pipeline")
    runs = {}
    runs["extract"] = run_script("extract.py", {"params": {"fraction": 0.6, "seed": 0}}, base / "extract")
    assert runs["extract"].rc == 0, runs["extract"].stderr
    runs["prepare"] = run_script("prepare.py", {"dataset": runs["extract"].ref("dataset")}, base / "prepare")
    assert runs["prepare"].rc == 0, runs["prepare"].stderr
    runs["train"] = run_script("train.py", {"train": runs["prepare"].ref("train")}, base / "train")
    assert runs["train"].rc == 0, runs["train"].stderr
    runs["evaluate"] = run_script("evaluate.py", {"model": runs["train"].ref("model"), "test": runs["prepare"].ref("test")},
                                  base / "evaluate")
    assert runs["evaluate"].rc == 0, runs["evaluate"].stderr
    return runs
