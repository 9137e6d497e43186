"""updraft_step — the step side of Updraft's output protocol v1 (docs/ml-steps.md), stdlib only.

    from updraft_step import run_step

    def main(step):
        p = step.params({"C": 1.0})                  # input.params over defaults, type-checked
        train_csv = step.artifact("train")           # local file of the input ArtifactRef
        ...write step.output_path("model.onnx")...
        step.log_metric("train_accuracy", 0.97)
        step.log_params({"C": p["C"]})
        model = step.log_artifact("model", "model.onnx", "model", format="onnx",
                                  register={"model": "breast_cancer_classifier"})
        step.outlet_event("s3://lake/models/bc", {"rows": 569})  # Airflow's outlet_events[asset].extra
        return {"model": model}                      # return.json; `model` becomes the ArtifactRef

    run_step(main)                                   # exit 0 / 99 (SkipStep) / 98 (FailStep)

`python -m updraft_step check DIR` validates an output folder by the worker's rules.
"""

from .artifacts import find_refs, is_ref, resolve_ref, sha256_file, store_key
from .errors import FAIL_EXIT_CODE, SKIP_EXIT_CODE, FailStep, InputError, ProtocolError, SkipStep
from .protocol import check_output_dir
from .step import Step, manifest_mode, output_dir, read_input, run_step

__all__ = [
    "FAIL_EXIT_CODE",
    "SKIP_EXIT_CODE",
    "FailStep",
    "InputError",
    "ProtocolError",
    "SkipStep",
    "Step",
    "check_output_dir",
    "find_refs",
    "is_ref",
    "manifest_mode",
    "output_dir",
    "read_input",
    "resolve_ref",
    "run_step",
    "sha256_file",
    "store_key",
]
