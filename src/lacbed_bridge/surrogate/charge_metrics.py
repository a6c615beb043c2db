"""Charge metrics: does a surrogate reproduce the effect of the atomic charges? (issue #10)

The charge states of one base crystal (a charge series, ``families[].charge_states``) share
elements, cell and U_iso; only the valence populations (transfer δ) and κ differ. Their images
differ by the charge effect alone, a small change (LACBED RMS ≈ 0.007; docs/charge_model.md). For
each base crystal s of the evaluated subset with K_s ≥ 2 states, with P_k the prediction and T_k
the truth of state k (one image kind, any linear scale: the metrics are invariant under the
dataset's normalisation x → (x − offset)/scale):

* change from the series mean: ΔP_k = P_k − ⟨P⟩_s, ΔT_k = T_k − ⟨T⟩_s;
* ``charge_r``: Pearson r between ΔP and ΔT over all pixels of all states of s;
* ``charge_rms_ratio``: RMS(ΔP) / RMS(ΔT) (1 = the predicted change has the true size);
* ``delta_pred`` (EDD-side targets): the transfer δ read from the prediction by least squares
  against the true series: δ̂_k minimises |P_k − T(δ)|² over δ ∈ [δ_min, δ_max], with T(δ) the
  true series joined piecewise linearly in δ (states sorted by δ). A perfect prediction reads
  its own δ exactly, also when κ differs between states (κ is drawn per state, and its effect
  on the density is as large as δ's: docs/charge_model.md), which a straight-line fit
  T ≈ A + δ·B would not. ``delta_error`` = δ̂_k − δ_k [e per formula unit].

Aggregates (``metrics.json``, ``summary.csv``): ``charge_r`` and ``charge_rms_ratio`` are means
over base crystals, ``delta_rmse`` the RMS of ``delta_error`` over the samples, ``n_series`` the
number of base crystals scored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Columns added to ``per_sample.csv`` and to the aggregate.
SAMPLE_COLUMNS = ("base_id", "charge_state", "delta", "charge_r", "charge_rms_ratio", "delta_pred", "delta_error")
AGGREGATE_KEYS = ("n_series", "charge_r", "charge_rms_ratio", "delta_rmse")


def charge_kind(target_kinds: tuple[str, ...] | list[str]) -> str:
    """The image kind scored: the deformation density when predicted, else the first target kind."""
    return "deformation" if "deformation" in target_kinds else target_kinds[0]


def series_metrics(pred: np.ndarray, truth: np.ndarray, deltas: np.ndarray | None) -> dict[str, Any]:
    """Charge metrics of one series: ``pred``, ``truth`` of shape (K, ...) and the K true δ.

    Returns ``charge_r``, ``charge_rms_ratio`` and, when ``deltas`` is given and varies,
    ``delta_pred`` (K values); NaN where undefined (K < 2, no true change).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    out: dict[str, Any] = {"charge_r": math.nan, "charge_rms_ratio": math.nan, "delta_pred": np.full(len(pred), math.nan)}
    if len(pred) < 2:
        return out
    d_pred = pred - pred.mean(axis=0)
    d_true = truth - truth.mean(axis=0)
    rms_true = float(np.sqrt(np.mean(d_true**2)))
    if rms_true > 0:
        out["charge_rms_ratio"] = float(np.sqrt(np.mean(d_pred**2))) / rms_true
        if np.any(d_pred):
            out["charge_r"] = float(np.corrcoef(d_pred.ravel(), d_true.ravel())[0, 1])
    if deltas is not None:
        out["delta_pred"] = read_delta(pred, truth, np.asarray(deltas, dtype=np.float64))
    return out


def read_delta(pred: np.ndarray, truth: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """δ̂ per prediction: the δ of the closest point (least squares) of the piecewise-linear true series.

    ``pred`` (M, n) and ``truth`` (K, n) flattened images, ``deltas`` the K true δ. NaN when the
    series has fewer than two distinct δ.
    """
    order = np.argsort(deltas, kind="stable")
    d, t = deltas[order], truth[order]
    segments = [(j, j + 1) for j in range(len(d) - 1) if d[j + 1] > d[j]]
    if not segments:
        return np.full(len(pred), math.nan)
    best = np.full(len(pred), np.inf)
    value = np.full(len(pred), math.nan)
    for j, k in segments:
        step = t[k] - t[j]
        length = float(step @ step)
        frac = np.clip((pred - t[j]) @ step / length, 0.0, 1.0) if length > 0 else np.zeros(len(pred))
        dist = np.sum((pred - t[j] - frac[:, None] * step) ** 2, axis=1)
        closer = dist < best
        best[closer] = dist[closer]
        value[closer] = d[j] + frac[closer] * (d[k] - d[j])
    return value


def charge_table(rows: pd.DataFrame, pred: np.ndarray, truth: np.ndarray, *, with_delta: bool) -> pd.DataFrame:
    """Per sample (in ``rows`` order) the columns of :data:`SAMPLE_COLUMNS`.

    ``rows`` are the manifest rows of the samples (``base_id``, ``charge_state``, ``delta``; a
    dataset without charge series gives NaN metrics), ``pred``/``truth`` the images of the scored
    kind, (N, H, W). ``with_delta``: also read δ from the prediction (EDD-side targets).
    """
    n = len(rows)
    table = pd.DataFrame({
        "base_id": rows["base_id"].astype(str).to_numpy() if "base_id" in rows else rows["sample_id"].astype(str).to_numpy(),
        "charge_state": rows["charge_state"].to_numpy() if "charge_state" in rows else np.zeros(n, dtype=int),
        "delta": pd.to_numeric(rows["delta"], errors="coerce").to_numpy() if "delta" in rows else np.full(n, math.nan),
    })
    for column in SAMPLE_COLUMNS[3:]:
        table[column] = math.nan
    for _, index in table.groupby("base_id", sort=False).indices.items():
        if len(index) < 2:
            continue
        deltas = table["delta"].to_numpy()[index] if with_delta else None
        if deltas is not None and not np.all(np.isfinite(deltas)):
            deltas = None
        m = series_metrics(pred[index], truth[index], deltas)
        table.loc[index, "charge_r"] = m["charge_r"]
        table.loc[index, "charge_rms_ratio"] = m["charge_rms_ratio"]
        if deltas is not None:
            table.loc[index, "delta_pred"] = m["delta_pred"]
    table["delta_error"] = table["delta_pred"] - table["delta"]
    return table


def aggregate_charge(table: pd.DataFrame) -> dict[str, Any]:
    """``n_series``, mean ``charge_r`` and ``charge_rms_ratio`` over base crystals, RMS ``delta_error``."""
    per_base = table.dropna(subset=["charge_rms_ratio"]).groupby("base_id", sort=False).first()
    errors = table["delta_error"].to_numpy(dtype=float)
    errors = errors[np.isfinite(errors)]
    return {
        "n_series": int(len(per_base)),
        "charge_r": float(per_base["charge_r"].mean()) if per_base["charge_r"].notna().any() else math.nan,
        "charge_rms_ratio": float(per_base["charge_rms_ratio"].mean()) if len(per_base) else math.nan,
        "delta_rmse": float(np.sqrt(np.mean(errors**2))) if len(errors) else math.nan,
    }
