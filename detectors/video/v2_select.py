"""Nested choice of the ``video-v2`` fusion: which streams, how they are combined, and each head's C.

Everything is chosen by leave-one-family-out *inside* the training rows it is given
(``logo_folds`` over those rows only), so an outer fold that calls ``nested_fit`` on its training
rows never looks at its test family:

1. inner folds: each training family held out in turn (with held-out real sources);
2. every candidate stream's probe is fitted on each inner training set for each C and scores the
   inner held-out rows; a stream's C is the one with the best mean inner AUC;
3. every fusion ``Variant`` (a stream subset and a combination method) is scored by the mean
   inner AUC of its fused held-out scores; the stacking weights used on an inner fold are fitted
   on the held-out scores of the *other* inner folds; the best variant wins (ties: the earlier,
   simpler one in ``VARIANTS``);
4. every variant is refitted on all the rows given (probes at their chosen C, centres and
   weights from the pooled inner held-out scores), so a caller can report each variant's outer
   result beside the chosen one's.

Combination methods: ``stack`` = non-negative logistic stacking of centred stream scores (an
absent stream adds 0); ``mean`` = equal weights on standardised centred scores (no fitted
weights: cannot over-fit the inner folds, cannot ignore a stream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo, metrics
from detectors.training.probe import LinearProbe, balanced_weights, fit_nonnegative_fusion
from detectors.video.v2_fusion import FusionV2, StreamModel, present

CS = (0.001, 0.01, 0.1)
INNER_MIN_FAKES = 4


@dataclass(frozen=True)
class Variant:
    """A fusion candidate: the streams it reads and how it combines them (``stack`` or ``mean``)."""

    name: str
    streams: tuple[str, ...]
    method: str = "stack"


# simplest first: on a tie of inner AUC the earlier variant is chosen
VARIANTS: tuple[Variant, ...] = (
    Variant("face", ("face",), "mean"),
    Variant("frame", ("frame",), "mean"),
    Variant("face+frame mean", ("face", "frame"), "mean"),
    Variant("face+frame stack", ("face", "frame"), "stack"),
    Variant("face+frame+audio mean", ("face", "frame", "audio"), "mean"),
    Variant("face+frame+audio stack", ("face", "frame", "audio"), "stack"),
    Variant("face+frame+lipsync+temporal stack", ("face", "frame", "lipsync", "temporal"), "stack"),
    Variant("all five stack (the first pass's recipe)", ("face", "frame", "temporal", "lipsync", "audio"), "stack"),
)


def candidate_variants(excluded: Sequence[str] = ()) -> tuple[Variant, ...]:
    """``VARIANTS`` without those that read an excluded stream (e.g. one a test showed to be a shortcut)."""
    return tuple(v for v in VARIANTS if not set(v.streams) & set(excluded))


def fit_probe(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping[str, str]], idx: np.ndarray,
              C: float) -> LinearProbe | None:
    """``LinearProbe(C)`` on the rows of ``idx`` where the stream is present (family-balanced
    weights); None when too few rows or one class."""
    have = idx[present(X[idx])]
    if len(have) < 4 or len(np.unique(y[have])) < 2:
        return None
    return LinearProbe(C).fit(X[have], y[have], balanced_weights(rows, have))


def stream_scores(probe: LinearProbe, X: np.ndarray) -> np.ndarray:
    """Probe decision values, NaN where the stream is absent."""
    return np.where(present(X), probe.score(X), np.nan)


@dataclass
class InnerFold:
    train: np.ndarray
    test: np.ndarray
    scores: dict[str, dict[float, np.ndarray]] = field(default_factory=dict)  # stream -> C -> test scores
    centres: dict[str, dict[float, float]] = field(default_factory=dict)  # stream -> C -> mean train score


def inner_folds(rows: Sequence[Mapping[str, str]], y: np.ndarray, idx: np.ndarray,
                min_fakes: int = INNER_MIN_FAKES) -> list[InnerFold]:
    """Leave-one-family-out folds over the rows ``idx`` only (global indices), both classes on each side."""
    sub = [rows[i] for i in idx]
    out = []
    for f in logo.logo_folds(sub, min_fakes=min_fakes):
        tr, te = idx[f.train], idx[f.test]
        if len(np.unique(y[tr])) == 2 and len(np.unique(y[te])) == 2:
            out.append(InnerFold(tr, te))
    return out


def _centred(fold: InnerFold, stream: str, C: float) -> np.ndarray:
    return np.nan_to_num(fold.scores[stream][C] - fold.centres[stream][C], nan=0.0)


def _combine(method: str, S: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and bias of a combination fitted on centred scores ``S`` (rows) with labels ``yy``."""
    k = S.shape[1]
    if method == "mean":
        sd = np.array([np.std(S[:, j][S[:, j] != 0]) if (S[:, j] != 0).sum() > 1 else 1.0 for j in range(k)])
        sd = np.where(np.isfinite(sd) & (sd > 1e-8), sd, 1.0)
        return 1.0 / (k * sd), 0.0
    if method == "stack":
        return fit_nonnegative_fusion(S, yy)
    raise ValueError(f"unknown combination method {method!r}")


@dataclass
class NestedFit:
    """The outcome of ``nested_fit``: the chosen variant, every variant refitted, and the inner evidence."""

    chosen: str
    models: dict[str, FusionV2]
    inner_auc: dict[str, float]  # variant -> mean inner held-out-family AUC
    stream_C: dict[str, float]
    stream_inner_auc: dict[str, float]
    n_inner: int

    @property
    def model(self) -> FusionV2:
        return self.models[self.chosen]


def nested_fit(
    matrices: Mapping[str, np.ndarray],
    y: np.ndarray,
    rows: Sequence[Mapping[str, str]],
    idx: np.ndarray,
    variants: Sequence[Variant] = VARIANTS,
    Cs: Sequence[float] = CS,
    names: Mapping[str, tuple[str, ...]] | None = None,
    columns: Mapping[str, Mapping[str, list[int]]] | None = None,
    min_fakes: int = INNER_MIN_FAKES,
    eligible: Sequence[str] | None = None,
) -> NestedFit:
    """Choose and fit the fusion on the rows ``idx`` alone (see the module docstring).

    ``eligible``: names of the variants the choice may fall on (default: all); every variant is
    still scored and refitted, so the ones set aside (e.g. those reading a stream a test showed to
    be a shortcut) can be reported beside the chosen one.
    """
    y = np.asarray(y, dtype=int)
    idx = np.asarray(idx)
    streams = sorted({s for v in variants for s in v.streams} & set(matrices))
    folds = inner_folds(rows, y, idx, min_fakes)
    if not folds:
        raise ValueError("no inner leave-one-family-out fold with both classes")
    # 2. every stream x C on every inner fold
    for f in folds:
        for s in streams:
            X = matrices[s]
            f.scores[s], f.centres[s] = {}, {}
            for C in Cs:
                p = fit_probe(X, y, rows, f.train, C)
                if p is None:
                    f.scores[s][C] = np.full(len(f.test), np.nan)
                    f.centres[s][C] = 0.0
                    continue
                tr = f.train[present(X[f.train])]
                f.centres[s][C] = float(np.mean(p.score(X[tr])))
                f.scores[s][C] = stream_scores(p, X[f.test])
    stream_C, stream_auc = {}, {}
    for s in streams:
        per_C = {}
        for C in Cs:
            aucs = [metrics.auc(y[f.test], np.where(np.isfinite(f.scores[s][C]), f.scores[s][C], f.centres[s][C]))
                    for f in folds]
            per_C[C] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
        best = max(Cs, key=lambda c: (np.nan_to_num(per_C[c], nan=-1.0), -c))
        stream_C[s], stream_auc[s] = float(best), per_C[best]
    # 3. every variant: inner AUC with weights from the other inner folds
    inner_auc: dict[str, float] = {}
    for v in variants:
        if not set(v.streams) <= set(streams):
            continue
        mats = [np.column_stack([_centred(f, s, stream_C[s]) for s in v.streams]) for f in folds]
        aucs = []
        for k, f in enumerate(folds):
            others = [j for j in range(len(folds)) if j != k]
            S_o = np.vstack([mats[j] for j in others])
            y_o = np.concatenate([y[folds[j].test] for j in others])
            w, b = _combine(v.method, S_o, y_o)
            aucs.append(metrics.auc(y[f.test], mats[k] @ w + b))
        inner_auc[v.name] = float(np.nanmean(aucs))
    if not inner_auc:
        raise ValueError("no variant can be built from the streams given")
    order = [v.name for v in variants if v.name in inner_auc and (eligible is None or v.name in eligible)]
    if not order:
        raise ValueError("no eligible variant can be built from the streams given")
    chosen = max(order, key=lambda n: (inner_auc[n], -order.index(n)))
    # 4. refit every variant on all rows: probes at their C, centres and weights from pooled inner scores
    pooled: dict[str, np.ndarray] = {}
    for s in streams:
        acc, cnt = np.zeros(len(y)), np.zeros(len(y))
        for f in folds:
            sc = f.scores[s][stream_C[s]]
            ok = np.isfinite(sc)
            acc[f.test[ok]] += sc[ok]
            cnt[f.test[ok]] += 1
        pooled[s] = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)[idx]
    held = np.zeros(len(y), bool)
    for f in folds:
        held[f.test] = True
    held = held[idx]
    fitted: dict[str, StreamModel] = {}
    for s in streams:
        p = fit_probe(matrices[s], y, rows, idx, stream_C[s])
        if p is None:
            continue
        centre = float(np.nanmean(pooled[s])) if np.isfinite(pooled[s]).any() else 0.0
        fitted[s] = StreamModel(names=tuple((names or {}).get(s, (s,))), probe=p, centre=centre,
                                columns={k: list(c) for k, c in ((columns or {}).get(s) or {}).items()})
    models: dict[str, FusionV2] = {}
    for v in variants:
        if v.name not in inner_auc or not set(v.streams) <= set(fitted):
            continue
        S = np.column_stack([np.nan_to_num(pooled[s] - fitted[s].centre, nan=0.0) for s in v.streams])[held]
        w, b = _combine(v.method, S, y[idx][held])
        weights = {s: 0.0 for s in fitted}
        weights.update({s: float(x) for s, x in zip(v.streams, w, strict=True)})
        models[v.name] = FusionV2(streams=dict(fitted), weights=weights, bias=float(b),
                                  info={"variant": v.name, "method": v.method, "streams_fused": list(v.streams)})
    if chosen not in models:
        raise ValueError(f"the chosen variant {chosen!r} could not be refitted")
    return NestedFit(chosen=chosen, models=models, inner_auc=inner_auc, stream_C=stream_C,
                     stream_inner_auc=stream_auc, n_inner=len(folds))


def chain_rule(a_asis: float, a_views: Mapping[str, float], auc_recorded_speech: float,
               max_drop: float = 0.05, max_auc_rs: float = 0.65) -> str:
    """The audio-chain decision of ``experiments/video/audio_chain.py`` (written before its results).

    "drop" when the stream scores fakes whose sound is recorded human speech (face swaps,
    lip-sync) above reals at AUC >= ``max_auc_rs``; else "down-weight" when re-encoding the sound
    of every clip costs more than ``max_drop`` of its mean LOGO AUC; else "keep".
    """
    if np.isfinite(auc_recorded_speech) and auc_recorded_speech >= max_auc_rs:
        return "drop"
    if any(np.isfinite(a) and a < a_asis - max_drop for a in a_views.values()):
        return "down-weight"
    return "keep"
