"""Drift measures (reference/mlops.md §4), as pure functions over numpy arrays.

PSI: 10 quantile bins of the reference (deciles; tied edges merge bins), outer bins open so
current values beyond the reference's range still count; empty-bin fractions floored at ε = 1e-4;
PSI = Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ). Bands: < 0.1 stable, 0.1–0.25 moderate, ≥ 0.25 significant.

KS, two-sample: D = sup |F_r − F_c|; with n_e = n·m/(n+m) and λ = (√n_e + 0.12 + 0.11/√n_e)·D,
p ≈ 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²λ²} (Numerical Recipes' probks: the series is summed until its
terms vanish; when it does not converge — λ near 0 — p is 1)."""

from __future__ import annotations

import math

import numpy as np

PSI_BINS = 10
PSI_EPS = 1e-4
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25


def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """The interior cut points of the reference's quantile bins (duplicates removed)."""
    qs = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1))
    return np.unique(qs[1:-1])


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Right-closed bins (a, b]; the first is (-inf, e1], the last (e_k, +inf).
    idx = np.searchsorted(edges, values, side="left")
    return np.bincount(idx, minlength=len(edges) + 1) / len(values)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS, eps: float = PSI_EPS) -> float:
    edges = psi_edges(reference, bins)
    e = np.maximum(bin_fractions(reference, edges), eps)
    a = np.maximum(bin_fractions(current, edges), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float) -> str:
    if value >= PSI_SIGNIFICANT:
        return "significant"
    return "moderate" if value >= PSI_MODERATE else "stable"


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """D = sup_x |F_r(x) − F_c(x)| over all observed x (ties counted as the ECDF does)."""
    r = np.sort(reference)
    c = np.sort(current)
    grid = np.concatenate([r, c])
    fr = np.searchsorted(r, grid, side="right") / len(r)
    fc = np.searchsorted(c, grid, side="right") / len(c)
    return float(np.max(np.abs(fr - fc)))


def ks_pvalue(d: float, n: int, m: int) -> float:
    ne = n * m / (n + m)
    sq = math.sqrt(ne)
    lam = (sq + 0.12 + 0.11 / sq) * d
    a2 = -2.0 * lam * lam
    fac, total, previous = 2.0, 0.0, 0.0
    for k in range(1, 101):
        term = fac * math.exp(a2 * k * k)
        total += term
        if abs(term) <= 0.001 * previous or abs(term) <= 1e-8 * total:
            return min(1.0, max(0.0, total))
        fac = -fac
        previous = abs(term)
    return 1.0
