#!/usr/bin/env python3
"""Runs the pipeline's steps inside the step images the way Updraft's Docker executor does, to prove
the images hold what the steps need:

    python3 steps/docker_check.py [--python-image updraft/step-python:latest] [--r-image updraft/step-r:latest]

Each step gets a fresh host folder bind-mounted at /updraft (input.json, xcom/), its input
artifacts bind-mounted read-only at /updraft/artifacts/<sha256> (the ref's `path`), no network, and
runs /steps/<lang>/<step> from the image. Every output folder is checked by protocol v1
(updraft_step.check_output_dir). Then the same train step runs on this machine's venv (when
--venv-python is given) and the two model.onnx files must be byte-identical: the process runtime
and the image run the same pinned stack. Prints one JSON line per step with its wall time.
Needs the docker CLI and DOCKER_HOST; stdlib only."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python"))

from updraft_step.protocol import check_output_dir  # noqa: E402


def sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class Runner:
    def __init__(self, work: str):
        self.work = work
        self.outputs: dict[str, dict] = {}

    def ref(self, step: str, name: str) -> tuple[dict, str]:
        """The ArtifactRef the worker would hand downstream, and the host file behind it."""
        out = self.outputs[step]
        art = next(a for a in out["artifacts"] if a["name"] == name)
        host = os.path.join(self.work, step, "xcom", art["path"])
        digest = sha256(host)
        body = {"sha256": digest, "uri": f"file://{host}", "name": name, "type": art["type"],
                "format": art.get("format"), "size": os.path.getsize(host), "path": f"/updraft/artifacts/{digest}"}
        return {"$artifact": body}, host

    def docker(self, step: str, image: str, argv: list[str], task_input: dict, inputs: list[tuple[dict, str]]) -> dict:
        io = os.path.join(self.work, step)
        os.makedirs(os.path.join(io, "xcom"))
        os.chmod(io, 0o777)
        os.chmod(os.path.join(io, "xcom"), 0o777)
        with open(os.path.join(io, "input.json"), "w") as fh:
            json.dump(task_input, fh)
        cmd = ["docker", "run", "--rm", "--network", "none", "-v", f"{io}:/updraft",
               "-e", "UPDRAFT_INPUT_FILE=/updraft/input.json", "-e", "UPDRAFT_RETURN_FILE=/updraft/xcom/return.json"]
        for ref, host in inputs:
            cmd += ["-v", f"{host}:{ref['$artifact']['path']}:ro"]
        cmd += [image, *argv]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"{step}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        result = check_output_dir(os.path.join(io, "xcom"))
        self.outputs[step] = result
        print(json.dumps({"step": step, "image": image, "wall_s": round(wall, 2), "return": result["return"]}))
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-image", default="updraft/step-python:latest")
    parser.add_argument("--r-image", default="updraft/step-r:latest")
    parser.add_argument("--no-r", action="store_true", help="skip validate_data (no R image)")
    parser.add_argument("--venv-python", help="also train on this interpreter and compare model.onnx bytes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="updraft-docker-check-")
    r = Runner(work)
    py = lambda name: ["python", f"/steps/python/{name}"]  # noqa: E731
    try:
        r.docker("extract", args.python_image, py("extract.py"), {"params": {"fraction": 0.6, "seed": 0}}, [])
        dataset = r.ref("extract", "dataset")
        if not args.no_r:
            r.docker("validate_data", args.r_image, ["Rscript", "/steps/r/validate_data.R"], {"dataset": dataset[0]}, [dataset])
        r.docker("prepare", args.python_image, py("prepare.py"), {"dataset": dataset[0]}, [dataset])
        train, test = r.ref("prepare", "train"), r.ref("prepare", "test")
        r.docker("train", args.python_image, py("train.py"), {"train": train[0]}, [train])
        model = r.ref("train", "model")
        r.docker("evaluate", args.python_image, py("evaluate.py"), {"model": model[0], "test": test[0]}, [model, test])
        if args.venv_python:
            out = os.path.join(work, "venv-train")
            os.makedirs(out)
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("UPDRAFT_")},
                   "UPDRAFT_INPUT": json.dumps({"train": {"$artifact": {"path": train[1]}}}), "UPDRAFT_OUTPUT_DIR": out}
            subprocess.run([args.venv_python, os.path.join(HERE, "python", "train.py")], env=env, check=True)
            same = sha256(os.path.join(out, "model.onnx")) == model[0]["$artifact"]["sha256"]
            print(json.dumps({"check": "model.onnx from the image == model.onnx from the venv", "identical": same,
                              "sha256": model[0]["$artifact"]["sha256"]}))
            if not same:
                return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
