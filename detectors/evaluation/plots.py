"""ROC curves and reliability diagrams from plain arrays (labels 1 = fake, scores / probabilities)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from detectors.evaluation import metrics


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roc_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> Path | None:
    """One ROC curve per name from (labels, scores); None when no curve has both classes."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    drawn = 0
    for name, (y, s) in curves.items():
        if len(np.unique(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=2.2 if name == "fused" else 1.2, ls=":" if "baseline" in name else "-",
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


def reliability_plot(y: np.ndarray, p: np.ndarray, path: str | Path, title: str, n_bins: int = 10) -> Path | None:
    """Fraction fake against mean predicted p(fake) per bin, with the bin counts; None without data."""
    if len(y) == 0:
        return None
    bins = metrics.reliability_bins(y, p, n_bins)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    used = bins.count > 0
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.plot(bins.mean_pred[used], bins.frac_fake[used], marker="o",
            label=f"ECE {metrics.ece(y, p, n_bins):.3f}, n={len(y)}")
    for x, f, c in zip(bins.mean_pred[used], bins.frac_fake[used], bins.count[used], strict=True):
        ax.annotate(str(int(c)), (x, f), fontsize=7, textcoords="offset points", xytext=(3, -9))
    ax.set(xlabel="mean predicted p(fake)", ylabel="fraction fake", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
