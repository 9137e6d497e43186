"""extract — selects the slice of the data set a run trains on and writes it as dataset.csv.

Input:  {"params": {"fraction": 0.6, "seed": 0, "shift": null | {"columns": [...], "offset_std": 1.0, "scale": 1.0}}}
Output: dataset.csv (type dataset, format csv); metrics rows, columns, positive_fraction;
        return {"dataset": <ArtifactRef>, "rows": n, "columns": k}

The slice is the first round(fraction·569) rows of a permutation drawn with `seed`, in the data
set's order: the same params give the same bytes, and a larger fraction with the same seed is a
superset of a smaller one (incremental data). `shift` perturbs features (x·scale + offset_std·σ,
σ over the whole data set) to simulate drift in a later run's data.
"""

from __future__ import annotations

import numpy as np

from ml_common import DATASET_NAME, LABEL, load_dataset, write_csv
from updraft_step import InputError, Step, run_step

SHIFT_DEFAULTS = {"columns": None, "offset_std": 0.0, "scale": 1.0}


def parse_shift(shift, features: list[str]) -> dict | None:
    if shift is None:
        return None
    if not isinstance(shift, dict):
        raise InputError("input.params.shift: expected an object {\"columns\": [...], \"offset_std\": 1.0, \"scale\": 1.0} or null")
    unknown = sorted(set(shift) - set(SHIFT_DEFAULTS))
    if unknown:
        raise InputError(f"input.params.shift: unknown field(s) {unknown}; expected {sorted(SHIFT_DEFAULTS)}")
    merged = {**SHIFT_DEFAULTS, **shift}
    columns = merged["columns"] if merged["columns"] is not None else features
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not columns:
        raise InputError("input.params.shift.columns: expected a non-empty list of feature names, or null for all")
    missing = [c for c in columns if c not in features]
    if missing:
        raise InputError(f"input.params.shift.columns: unknown feature(s) {missing[:5]}; features are e.g. {features[:3]}")
    for key in ("offset_std", "scale"):
        if isinstance(merged[key], bool) or not isinstance(merged[key], (int, float)):
            raise InputError(f"input.params.shift.{key}: expected a number")
    return {"columns": columns, "offset_std": float(merged["offset_std"]), "scale": float(merged["scale"])}


def main(step: Step):
    step.check_keys(set())
    p = step.params({"fraction": 1.0, "seed": 0, "shift": None})
    if not 0.0 < p["fraction"] <= 1.0:
        raise InputError(f"input.params.fraction: expected 0 < fraction <= 1, got {p['fraction']}")
    frame = load_dataset()
    features = [c for c in frame.columns if c != LABEL]
    shift = parse_shift(p["shift"], features)

    n = len(frame)
    take = max(1, round(p["fraction"] * n))
    order = np.random.default_rng(p["seed"]).permutation(n)
    chosen = np.sort(order[:take])
    data = frame.iloc[chosen].reset_index(drop=True)
    if shift is not None:
        sigma = frame[shift["columns"]].std(ddof=0)
        for col in shift["columns"]:
            data[col] = data[col] * shift["scale"] + shift["offset_std"] * sigma[col]

    write_csv(data, step.output_path("dataset.csv"))
    step.log_params({
        "dataset": DATASET_NAME,
        "fraction": p["fraction"],
        "seed": p["seed"],
        "shifted_columns": len(shift["columns"]) if shift else 0,
        "shift_offset_std": shift["offset_std"] if shift else 0.0,
        "shift_scale": shift["scale"] if shift else 1.0,
    })
    step.log_metrics({
        "rows": len(data),
        "columns": len(data.columns),
        "positive_fraction": float(data[LABEL].mean()),
    })
    ref = step.log_artifact(
        "dataset", "dataset.csv", "dataset", format="csv",
        metadata={"source": "sklearn.datasets.load_breast_cancer", "rows": len(data), "label": LABEL,
                  "fraction": p["fraction"], "seed": p["seed"], "shifted": shift is not None},
    )
    return {"dataset": ref, "rows": len(data), "columns": len(data.columns)}


if __name__ == "__main__":
    run_step(main)
