"""ROC curves and reliability diagrams from plain arrays (labels 1 = fake; scores or probabilities).

Both protocols of ``deepfake-eval`` draw through here: the split protocol per view and fake kind
(``report.plot_roc`` / ``plot_reliability``), the LOGO protocol per stream on pooled held-out scores.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from detectors.evaluation import metrics

Curves = Mapping[str, tuple[np.ndarray, np.ndarray]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_plot(curves: Curves, path: str | Path, title: str, bold: Collection[str] = (),
             dashed: Collection[str] = ()) -> Path | None:
    """One ROC curve per name from (labels, scores); None when no curve has both classes."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    drawn = 0
    for name, (y, s) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=2.2 if name in bold else (1.0 if name in dashed else 1.4), ls="--" if name in dashed else "-",
                label=f"{name} (AUC {metrics.auc(y, s):.3f}, n={len(y)})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate (reals called fake)", ylabel="true positive rate (fakes caught)",
           title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def reliability_plot(sets: Curves, path: str | Path, title: str, n_bins: int = 10) -> Path | None:
    """Fraction fake against mean predicted p(fake) per bin for each named (labels, probabilities),
    with the number of files per bin underneath; None without data."""
    plt = _pyplot()
    fig, (ax, axc) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    drawn = 0
    width = 1.0 / n_bins / max(len(sets), 1)
    for j, (name, (y, p)) in enumerate(sets.items()):
        if len(y) == 0:
            continue
        bins = metrics.reliability_bins(y, p, n_bins)
        used = bins.count > 0
        ax.plot(bins.mean_pred[used], bins.frac_fake[used], marker="o",
                label=f"{name} (ECE {metrics.ece(y, p, n_bins):.3f})")
        axc.bar(bins.edges[:-1] + j * width, bins.count, width=width, align="edge", label=name)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":", label="perfectly calibrated")
    ax.set(ylabel="fraction fake", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=7)
    axc.set(xlabel="predicted p(fake)", ylabel="files")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
