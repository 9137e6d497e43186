"""monitor — data drift between the training reference and the current data slice.

Input:  {"reference": <ArtifactRef csv (train.csv)>, "current": <ArtifactRef csv (dataset.csv)>,
         "params": {"method": "auto", "ks_alpha": 0.05, "psi_threshold": 0.25, "drift_share": 0.5,
                    "psi_bins": 10, "columns": null}}
Per feature column: PSI (reported always, with its band) and the two-sample KS test. A column has
drifted by method "ks" when p < ks_alpha, by "psi" when PSI ≥ psi_threshold; "auto" picks KS for
a reference of at most 1000 rows and PSI above (mlops.md §4, Evidently's rule). The data set has
drifted when the share of drifted columns ≥ drift_share.
Output: drift_report.json (type report); metrics psi_max, psi_mean, ks_statistic_max, ks_pvalue_min,
        drift_share, drifted_columns, dataset_drift (0/1), reference_rows, current_rows;
        return {"drift": bool, "drift_share", "drifted_columns": [names], "psi_max", "method", "report": <ArtifactRef>}
"""

from __future__ import annotations

import json

import numpy as np

import drift
from ml_common import LABEL, read_table
from updraft_step import FailStep, InputError, Step, run_step

METHODS = ("auto", "ks", "psi")
KS_MAX_REFERENCE_ROWS = 1000


def main(step: Step):
    step.check_keys({"reference", "current"})
    p = step.params({"method": "auto", "ks_alpha": 0.05, "psi_threshold": 0.25, "drift_share": 0.5,
                     "psi_bins": 10, "columns": None})
    if p["method"] not in METHODS:
        raise InputError(f"input.params.method: expected one of {', '.join(METHODS)}, got {p['method']!r}")
    for key in ("ks_alpha", "drift_share"):
        if not 0.0 < p[key] <= 1.0:
            raise InputError(f"input.params.{key}: expected a number in (0, 1], got {p[key]}")
    if p["psi_threshold"] <= 0:
        raise InputError(f"input.params.psi_threshold: expected a positive number, got {p['psi_threshold']}")
    if not 2 <= p["psi_bins"] <= 100:
        raise InputError(f"input.params.psi_bins: expected 2..100, got {p['psi_bins']}")

    ref, _, ref_features = read_table(step.artifact("reference"), "input.reference")
    cur, _, cur_features = read_table(step.artifact("current"), "input.current")
    columns = p["columns"] if p["columns"] is not None else ref_features
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise InputError("input.params.columns: expected a non-empty list of column names, or null for every feature")
    for side, names in (("reference", ref_features), ("current", cur_features)):
        missing = [c for c in columns if c not in names]
        if missing:
            raise FailStep(f"input.{side}: missing column(s) {missing[:5]} to compare")
    method = p["method"] if p["method"] != "auto" else ("ks" if len(ref) <= KS_MAX_REFERENCE_ROWS else "psi")

    per_column = {}
    for col in columns:
        r = ref[col].to_numpy(dtype=np.float64)
        c = cur[col].to_numpy(dtype=np.float64)
        value = drift.psi(r, c, bins=p["psi_bins"])
        d = drift.ks_statistic(r, c)
        pval = drift.ks_pvalue(d, len(r), len(c))
        drifted = pval < p["ks_alpha"] if method == "ks" else value >= p["psi_threshold"]
        per_column[col] = {"psi": value, "psi_band": drift.psi_band(value), "ks_statistic": d,
                           "ks_pvalue": pval, "drifted": bool(drifted)}

    drifted_cols = [c for c, v in per_column.items() if v["drifted"]]
    share = len(drifted_cols) / len(columns)
    dataset_drift = share >= p["drift_share"]
    psis = [v["psi"] for v in per_column.values()]
    summary = {
        "psi_max": max(psis),
        "psi_mean": float(np.mean(psis)),
        "ks_statistic_max": max(v["ks_statistic"] for v in per_column.values()),
        "ks_pvalue_min": min(v["ks_pvalue"] for v in per_column.values()),
        "drift_share": share,
        "drifted_columns": len(drifted_cols),
        "dataset_drift": int(dataset_drift),
        "reference_rows": len(ref),
        "current_rows": len(cur),
    }
    # Per-column numbers go into the report, not the metrics: a Kubernetes step's whole output
    # manifest must fit a 4 KiB termination message.
    step.log_metrics(summary)
    report = {"method": method, "thresholds": {k: p[k] for k in ("ks_alpha", "psi_threshold", "drift_share", "psi_bins")},
              "label": LABEL, "dataset_drift": dataset_drift, "summary": summary, "columns": per_column}
    with open(step.output_path("drift_report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True)
    ref_art = step.log_artifact("drift_report", "drift_report.json", "report", format="json", metadata={"kind": "drift"})
    step.log_params({"drift_method": method, "ks_alpha": p["ks_alpha"], "psi_threshold": p["psi_threshold"],
                     "drift_share_threshold": p["drift_share"], "psi_bins": p["psi_bins"]})
    return {"drift": dataset_drift, "drift_share": share, "drifted_columns": drifted_cols,
            "psi_max": summary["psi_max"], "method": method, "report": ref_art}


if __name__ == "__main__":
    run_step(main)
