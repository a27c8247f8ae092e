"""Statistics per endpoint, from scipy and statsmodels (nothing they provide is
re-implemented here): descriptives, Welch's t-test with the CI of the difference,
Mann-Whitney, Hedges' g with a bootstrap CI, ANCOVA, a linear mixed model, Holm
correction, sample size for 80 % power, and repeatability (ICC, CV)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

__all__ = ["ancova", "describe", "hedges_g", "holm", "icc_oneway", "mixed_model", "n_for_power", "reader_agreement",
           "two_groups"]


def describe(x: np.ndarray) -> dict[str, float | int | None]:
    """n, mean, SD, median and quartiles of the finite values."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return {"n": int(len(x)), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if len(x) > 1 else None,
            "median": float(med), "q1": float(q1), "q3": float(q3)}


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Standardised mean difference (x - y) / pooled SD with the small-sample correction."""
    nx, ny = len(x), len(y)
    pooled = math.sqrt(((nx - 1) * np.var(x, ddof=1) + (ny - 1) * np.var(y, ddof=1)) / (nx + ny - 2))
    d = (np.mean(x) - np.mean(y)) / pooled if pooled > 0 else float("nan")
    return float(d * (1 - 3 / (4 * (nx + ny) - 9)))


def _hedges_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    nx, ny = x.shape[axis], y.shape[axis]
    pooled = np.sqrt(((nx - 1) * x.var(axis=axis, ddof=1) + (ny - 1) * y.var(axis=axis, ddof=1)) / (nx + ny - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x.mean(axis=axis) - y.mean(axis=axis)) / pooled * (1 - 3 / (4 * (nx + ny) - 9))


def n_for_power(g: float | None, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Subjects per group for a two-sided two-sample t-test to reach ``power`` at the
    observed effect size (None when the effect is zero or undefined)."""
    if g is None or not np.isfinite(g) or abs(g) < 1e-6:
        return None
    analysis = TTestIndPower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the solver does not converge for very large effects, where 2 per group suffice
        if analysis.power(effect_size=abs(g), nobs1=2, alpha=alpha, ratio=1.0) >= power:
            return 2
        n = float(np.atleast_1d(analysis.solve_power(effect_size=abs(g), alpha=alpha, power=power, ratio=1.0))[0])
    return int(math.ceil(n)) if np.isfinite(n) else None


def two_groups(x: np.ndarray, ref: np.ndarray, *, n_boot: int = 2000, seed: int = 0,
               alpha: float = 0.05) -> dict[str, Any]:
    """Compare ``x`` with the reference ``ref``: Welch's t-test (primary) with the
    95 % CI of the difference of means, Mann-Whitney U, Hedges' g with a percentile
    bootstrap CI, and the sample size for 80 % power."""
    x, ref = (np.asarray(v, dtype=float) for v in (x, ref))
    x, ref = x[np.isfinite(x)], ref[np.isfinite(ref)]
    out: dict[str, Any] = {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "test": "welch_t",
                           "p_mannwhitney": None, "hedges_g": None, "hedges_g_ci_low": None,
                           "hedges_g_ci_high": None, "n_per_group_80pct_power": None}
    if len(x) < 2 or len(ref) < 2:
        return out
    res = stats.ttest_ind(x, ref, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    out.update(diff=float(x.mean() - ref.mean()), ci_low=float(ci.low), ci_high=float(ci.high),
               p_value=float(res.pvalue),
               p_mannwhitney=float(stats.mannwhitneyu(x, ref, alternative="two-sided").pvalue))
    g = hedges_g(x, ref)
    out["hedges_g"] = g
    if n_boot and np.isfinite(g):
        boot = stats.bootstrap((x, ref), _hedges_stat, n_resamples=n_boot, method="percentile",
                               rng=np.random.default_rng(seed), vectorized=True)
        out["hedges_g_ci_low"] = float(boot.confidence_interval.low)
        out["hedges_g_ci_high"] = float(boot.confidence_interval.high)
    out["n_per_group_80pct_power"] = n_for_power(g)
    return out


def ancova(df: pd.DataFrame, group: str, reference: str, alpha: float = 0.05) -> dict[str, Any]:
    """Follow-up ~ group + baseline (OLS): the baseline-adjusted difference of
    ``group`` versus ``reference`` with its CI and p-value.

    Args:
        df: one row per subject with columns ``follow``, ``baseline``, ``group``.
    """
    d = df[df["group"].isin([group, reference])].dropna(subset=["follow", "baseline"]).copy()
    d["treat"] = (d["group"] == group).astype(float)
    if d["treat"].sum() < 2 or (1 - d["treat"]).sum() < 2:
        return {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "test": "ancova"}
    fit = smf.ols("follow ~ treat + baseline", data=d).fit()
    ci = fit.conf_int(alpha).loc["treat"]
    return {"diff": float(fit.params["treat"]), "ci_low": float(ci.iloc[0]), "ci_high": float(ci.iloc[1]),
            "p_value": float(fit.pvalues["treat"]), "test": "ancova"}


def mixed_model(df: pd.DataFrame, reference: str, timepoints: list[str], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Linear mixed model ``value ~ group * time`` with a random intercept per subject
    (REML). Returns, per non-reference group and later timepoint, the group x time
    interaction: how much more the group changed from the first timepoint than the
    reference group did.

    Args:
        df: long table with ``subject_id, group, timepoint, value``.
    """
    d = df.dropna(subset=["value"]).copy()
    d["time"] = pd.Categorical(d["timepoint"], categories=timepoints)
    d["grp"] = pd.Categorical(d["group"], categories=[reference] + sorted(set(d["group"]) - {reference}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a failed fit is reported below
        try:
            fit = smf.mixedlm("value ~ C(grp) * C(time)", d, groups=d["subject_id"]).fit(reml=True)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return [{"test": "mixed_model", "note": f"fit failed: {exc}"}]
    ci = fit.conf_int(alpha)
    rows = []
    for name in fit.params.index:
        if ":" not in name:
            continue
        g = name.split("[T.")[1].split("]")[0]
        t = name.split("[T.")[2].split("]")[0]
        rows.append({"group": g, "timepoint": t, "diff": float(fit.params[name]), "ci_low": float(ci.loc[name, 0]),
                     "ci_high": float(ci.loc[name, 1]), "p_value": float(fit.pvalues[name]), "test": "mixed_model",
                     "converged": bool(fit.converged)})
    return rows


# Span of the scale of percentage endpoints (points): an effect whose 95 % interval is
# wider than the whole scale says nothing. Strain's physiological scale is 0 to -40 %.
_SCALE_SPAN = {"gls_pct": 40.0, "gcs_pct": 40.0, "grs_pct": 100.0}


def meaningless_interval(endpoint: str, ci_low: float | None, ci_high: float | None,
                         level: float | None) -> str | None:
    """Why an effect's 95 % interval is too wide to report, or None when it informs.

    An interval is meaningless when it is wider than the endpoint's whole scale: 100
    points for a percentage (LVEF, FS, FAC, akinetic extent), 40 points for a strain,
    or, for a quantity without a fixed scale (volumes, mass, diameters), wider than
    twice its typical ``level`` (the mean over all subjects: a difference anywhere from
    -100 % to +100 % of it).
    """
    if ci_low is None or ci_high is None or not np.isfinite(ci_low) or not np.isfinite(ci_high):
        return None
    width = ci_high - ci_low
    if endpoint in _SCALE_SPAN or endpoint.startswith("regional_strain_"):
        span = _SCALE_SPAN.get(endpoint, 40.0)
    elif endpoint.endswith("_pct"):
        span = 100.0
    elif level is not None and np.isfinite(level) and level != 0:
        span = 2.0 * abs(level)
    else:
        return None
    if width <= span:
        return None
    return (f"95% CI ({ci_low:.3g}, {ci_high:.3g}) is {width:.3g} wide, more than the endpoint's scale ({span:.3g}): "
            "too few or too uncertain clips to report an effect")


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (None stays None)."""
    idx = [i for i, p in enumerate(p_values) if p is not None and np.isfinite(p)]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        adj = multipletests([p_values[i] for i in idx], method="holm")[1]
        for i, a in zip(idx, adj):
            out[i] = float(a)
    return out


def icc_oneway(values: pd.DataFrame) -> dict[str, float | int | None]:
    """Repeatability of repeated clips of the same subject and timepoint.

    ICC(1): one-way random-effects, single measurement, from the ANOVA mean squares
    (between and within units, statsmodels OLS); CV: within-unit SD / grand mean.

    Args:
        values: columns ``unit`` (subject and timepoint) and ``value``.
    """
    d = values.dropna(subset=["value"])
    counts = d.groupby("unit")["value"].count()
    d = d[d["unit"].isin(counts[counts >= 2].index)]
    n_units = d["unit"].nunique()
    if n_units < 3:
        return {"icc": None, "cv_pct": None, "n_units": n_units}
    fit = smf.ols("value ~ C(unit)", data=d).fit()
    from statsmodels.stats.anova import anova_lm

    table = anova_lm(fit)
    ms_between, ms_within = table["mean_sq"].iloc[0], table["mean_sq"].iloc[1]
    k = d.groupby("unit")["value"].count()
    # average group size corrected for unequal sizes (Shrout & Fleiss, one-way model)
    k0 = (len(d) - (k**2).sum() / len(d)) / (n_units - 1)
    icc = (ms_between - ms_within) / (ms_between + (k0 - 1) * ms_within)
    mean = float(d["value"].mean())
    cv = 100 * math.sqrt(ms_within) / abs(mean) if mean else None
    return {"icc": float(icc), "cv_pct": cv, "n_units": int(n_units)}


def reader_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float | int | None]:
    """Agreement of two readers on the same clips.

    ICC(A,1) (two-way random effects, absolute agreement, single rater; McGraw & Wong
    1996, Shrout & Fleiss ICC(2,1)) from the two-way ANOVA mean squares; bias (mean of
    b - a) and the Bland-Altman 95 % limits of agreement (bias ± 1.96 SD of the
    differences).

    Args:
        a, b: paired values (NaN pairs dropped).
    """
    x = np.column_stack([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    x = x[np.isfinite(x).all(axis=1)]
    n = len(x)
    out: dict[str, float | int | None] = {"n": n, "icc": None, "bias": None, "loa_low": None, "loa_high": None}
    if n == 0:
        return out
    d = x[:, 1] - x[:, 0]
    out["bias"] = float(d.mean())
    if n >= 2:
        sd = float(d.std(ddof=1))
        out["loa_low"], out["loa_high"] = out["bias"] - 1.96 * sd, out["bias"] + 1.96 * sd
    if n >= 3:
        k = 2
        grand = x.mean()
        ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
        ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
        ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
        msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
        denom = msr + (k - 1) * mse + k * (msc - mse) / n
        out["icc"] = float((msr - mse) / denom) if denom > 0 else None
    return out
