"""PSI and KS (drift.py) against independent computations: scipy for KS, a hand-worked PSI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

import drift


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_ks_statistic_matches_scipy(seed, ties):
    rng = np.random.default_rng(seed)
    r = rng.normal(0, 1, 300)
    c = rng.normal(0.3, 1.2, 170)
    if ties:
        r, c = np.round(r, 1), np.round(c, 1)
    assert drift.ks_statistic(r, c) == pytest.approx(stats.ks_2samp(r, c).statistic, abs=1e-12)


@pytest.mark.parametrize("d,n,m", [(0.05, 300, 300), (0.1, 272, 569), (0.2, 100, 80), (0.6, 272, 569)])
def test_ks_pvalue_is_the_kolmogorov_series_at_the_corrected_lambda(d, n, m):
    ne = n * m / (n + m)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    # scipy.special.kolmogorov(λ) = 2 Σ (−1)^{k−1} e^{−2k²λ²}, the survival function of Kolmogorov's distribution.
    assert drift.ks_pvalue(d, n, m) == pytest.approx(float(special.kolmogorov(lam)), rel=1e-6, abs=1e-12)


def test_ks_pvalue_edges():
    assert drift.ks_pvalue(0.0, 100, 100) == 1.0
    assert drift.ks_pvalue(1.0, 1000, 1000) < 1e-100


def test_psi_by_hand():
    # Reference 0..99: decile edges 9.9, 19.8, ..., 89.1 → 10 bins of 10 values each (e_i = 0.1).
    ref = np.arange(100, dtype=float)
    # Current: half the values in the first bin, the rest spread over bins 2..10 (1/18 each).
    cur = np.concatenate([np.full(9, 0.0), np.linspace(10, 99, 9)])
    a = np.array([0.5] + [0.5 / 9] * 9)
    expected = float(np.sum((a - 0.1) * np.log(a / 0.1)))
    assert drift.psi(ref, cur) == pytest.approx(expected, rel=1e-12)


def test_psi_identical_is_zero_and_empty_bins_are_floored():
    ref = np.arange(100, dtype=float)
    assert drift.psi(ref, ref.copy()) == 0.0
    shifted = ref + 1000  # every current value in the last bin; the 9 empty bins count as 1e-4
    a = np.array([1e-4] * 9 + [1.0])
    assert drift.psi(ref, shifted) == pytest.approx(float(np.sum((a - 0.1) * np.log(a / 0.1))), rel=1e-12)


def test_bands():
    assert [drift.psi_band(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0)] == [
        "stable", "stable", "moderate", "moderate", "significant", "significant"]
