"""Normal ranges of the forensic features (measured on real photos) and the anomalies they raise.

A feature becomes an anomaly only when its value leaves the range measured on real images of
the training split, as they are and after ordinary re-saving (JPEG q90, shrinking); the range is
stored beside the weights (``forensic_ranges.json``). The same exceedances, summed, give the
forensic component of the fusion. The error level itself (how much one more JPEG save changes
the picture) says how the file was last saved, not whether it was manipulated: it is measured
but raises no anomaly; its spread between regions and between face and surroundings do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.schema import Anomaly

RANGES_FILE = "forensic_ranges.json"
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5


@dataclass(frozen=True)
class FeatureSpec:
    """How to read one feature: anomaly type, plain name, which side is suspicious, and why."""

    type: str
    label: str
    direction: str  # "high", "low" or "both"
    high_means: str
    low_means: str = ""
    scale: str = "linear"  # "log10" / "log2": the stored value is a logarithm; shown de-logged


SPECS: dict[str, FeatureSpec] = {
    "edge_density": FeatureSpec(
        "Edge inconsistency", "edge density", "both",
        "far more edges than real photos show (over-sharpened or synthetic detail)",
        "far fewer edges than real photos show (smoothed, synthetic-looking surfaces)",
    ),
    "edge_strength_spread": FeatureSpec(
        "Edge inconsistency", "edge sharpness spread", "high",
        "edge sharpness varies between regions more than in real photos (parts with a different history)",
    ),
    "saturation_mean": FeatureSpec(
        "Colour distribution", "mean saturation", "both",
        "colours are more saturated than in real photos", "colours are less saturated than in real photos",
    ),
    "hue_entropy": FeatureSpec(
        "Colour distribution", "hue spread", "both",
        "hues are spread unusually evenly", "the palette is unusually narrow",
    ),
    "channel_residual_corr": FeatureSpec(
        "Colour distribution", "colour-channel noise correlation", "both",
        "fine detail is more tightly coupled across R, G and B than a camera leaves it",
        "fine detail in R, G and B is less coupled than camera demosaicing leaves it (typical of synthesis)",
    ),
    "noise_level": FeatureSpec(
        "Texture anomaly", "noise level", "both",
        "more high-frequency noise than real photos", "less sensor noise than real photos (overly clean, synthetic texture)",
    ),
    "noise_spread": FeatureSpec(
        "Texture anomaly", "noise-level spread", "high",
        "noise level differs between regions more than in real photos (spliced or retouched regions)",
    ),
    "laplacian_var_log": FeatureSpec(
        "Texture anomaly", "texture variance", "both",
        "texture variance is higher than in real photos", "texture variance is lower than in real photos",
        scale="log10",
    ),
    "hf_energy_ratio": FeatureSpec(
        "Frequency-domain artifact", "high-frequency energy share", "both",
        "more energy at the highest spatial frequencies than real photos", "less high-frequency energy than real photos",
        scale="log10",
    ),
    "spectral_slope": FeatureSpec(
        "Frequency-domain artifact", "spectral slope", "both",
        "the power spectrum falls off more slowly than in real photos",
        "the power spectrum falls off faster than in real photos",
    ),
    "hf_falloff": FeatureSpec(
        "Frequency-domain artifact", "top-band fall-off", "low",
        "", "energy drops off a cliff near the Nyquist frequency (low-pass up-sampling)", scale="log10",
    ),
    "upsampling_replica": FeatureSpec(
        "Frequency-domain artifact", "up-sampling periodicity", "high",
        "the spectrum repeats periodically, the trace of up-sampling (as in GAN/diffusion decoders or resizing)",
    ),
    "jpeg_blockiness": FeatureSpec(
        "Compression artifacts", "JPEG block grid strength", "high",
        "8x8 JPEG block edges are stronger than in real photos (heavy or repeated compression)", scale="log10",
    ),
    "jpeg_grid_misaligned": FeatureSpec(
        "Compression artifacts", "JPEG grid offset", "high",
        "the JPEG block grid is off the image origin: the picture was cropped or shifted after compression",
    ),
    "double_jpeg": FeatureSpec(
        "Compression artifacts", "double-compression trace", "high",
        "DCT histograms show periodic gaps: the JPEG was compressed twice with different qualities",
    ),
    "error_level_spread": FeatureSpec(
        "Compression artifacts", "error-level spread", "high",
        "regions respond differently to re-compression (different compression histories)",
    ),
    "face_noise_ratio": FeatureSpec(
        "Facial inconsistency", "face/background noise ratio", "both",
        "the face is noisier than its surroundings", "the face is cleaner than its surroundings (pasted or smoothed face)",
        scale="log2",
    ),
    "face_sharpness_ratio": FeatureSpec(
        "Facial inconsistency", "face/background sharpness ratio", "both",
        "the face is sharper than its surroundings", "the face is blurrier than its surroundings (blended face)",
        scale="log2",
    ),
    "face_ela_ratio": FeatureSpec(
        "Facial inconsistency", "face/background error-level ratio", "both",
        "the face responds to re-compression unlike its surroundings (different compression history)",
        "the face responds to re-compression unlike its surroundings (different compression history)",
        scale="log2",
    ),
}
FACE_FEATURES = ("face_noise_ratio", "face_sharpness_ratio", "face_ela_ratio")


@dataclass
class Range:
    lo: float
    hi: float
    median: float
    n: int


class FeatureRanges:
    """Per-feature [lo, hi] measured on real images; exceedance is in units of the range width."""

    def __init__(self, ranges: dict[str, Range], source: str = "") -> None:
        self.ranges = ranges
        self.source = source

    @classmethod
    def fit(cls, rows: list[dict[str, float]], source: str = "") -> FeatureRanges:
        """Percentile ranges (0.5 %..99.5 %) of each feature over real images."""
        ranges: dict[str, Range] = {}
        for name in SPECS:
            vals = np.array([r[name] for r in rows if name in r and math.isfinite(r[name])], dtype=np.float64)
            if vals.size < 10:
                continue
            lo, hi = np.percentile(vals, [LOW_PERCENTILE, HIGH_PERCENTILE])
            ranges[name] = Range(float(lo), float(hi), float(np.median(vals)), int(vals.size))
        return cls(ranges, source)

    def save(self, path: str | Path) -> None:
        data = {
            "description": "Forensic feature ranges on real images (percentiles "
            f"{LOW_PERCENTILE}..{HIGH_PERCENTILE}); a value outside is an anomaly.",
            "source": self.source,
            "ranges": {k: vars(v) for k, v in self.ranges.items()},
        }
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FeatureRanges:
        data = json.loads(Path(path).read_text())
        return cls({k: Range(**v) for k, v in data["ranges"].items()}, data.get("source", ""))

    def exceedance(self, name: str, value: float) -> float:
        """How far outside the suspicious side of the range, in range widths (0 inside)."""
        r, spec = self.ranges.get(name), SPECS.get(name)
        if r is None or spec is None or not math.isfinite(value):
            return 0.0
        width = max(r.hi - r.lo, 1e-6)
        over = (value - r.hi) / width if value > r.hi and spec.direction in ("high", "both") else 0.0
        under = (r.lo - value) / width if value < r.lo and spec.direction in ("low", "both") else 0.0
        return float(max(over, under))

    def score(self, features: dict[str, float]) -> float:
        """Total exceedance of all features (the forensic component's raw score, 0 = all normal)."""
        return float(sum(min(self.exceedance(k, v), 3.0) for k, v in features.items()))

    def anomalies(self, features: dict[str, float], where: str = "the image", box=None) -> list[Anomaly]:
        """One readable anomaly per feature outside its real-photo range."""
        out: list[Anomaly] = []
        for name, value in features.items():
            ex = self.exceedance(name, value)
            if ex <= 0:
                continue
            spec, r = SPECS[name], self.ranges[name]
            severity = "low" if ex < 0.25 else "medium" if ex < 1.0 else "high"
            why = spec.high_means if value > r.hi else spec.low_means
            desc = (
                f"In {where}, {why}: {spec.label} {_show(value, spec.scale)} is outside the range "
                f"{_show(r.lo, spec.scale)}–{_show(r.hi, spec.scale)} measured on real photos ({r.n} samples)."
            )
            out.append(
                Anomaly(
                    type=spec.type,
                    severity=severity,
                    description=desc,
                    value=_plain(value, spec.scale),
                    normal_range=(_plain(r.lo, spec.scale), _plain(r.hi, spec.scale)),
                )
            )
        return out


def _plain(value: float, scale: str) -> float:
    """The value in its natural unit (stored log features de-logged), as the description shows it."""
    v = 10**value if scale == "log10" else 2**value if scale == "log2" else value
    return float(f"{v:.4g}")


def _show(value: float, scale: str) -> str:
    if scale == "log10":
        return f"{10**value:.3g}"
    if scale == "log2":
        return f"{2**value:.2f}x"
    return f"{value:.3g}"
