"""Synthesis artifacts a listener or a spectrogram can confirm, each reported as an anomaly.

- band limit: the spectrum stops with a cliff well below what the file's sample rate can carry
  (many TTS vocoders synthesise only up to 8 kHz or less and are then stored at 22-24 kHz);
- no room noise or breath in pauses: pauses that are digitally silent or far cleaner than any
  microphone in a room gives;
- vocoder periodicity: stationary narrow spectral lines (upsampling layers of neural vocoders
  leave tones at fixed frequencies; natural harmonics move with the pitch and average out);
- over-regular pitch: cycle-to-cycle pitch jitter below what human voices produce;
- incoherent phase: phase that does not advance coherently between frames (Griffin-Lim and
  phase-reconstructing vocoders).

Thresholds are fixed, physically motivated limits, checked against real training speech (the
measured ranges are in docs/audio.md); ``artifactCount`` is the number that fire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.audio.features import Spectra
from detectors.schema import Anomaly

PAUSE_MIN_S = 0.3


@dataclass
class ArtifactMeasures:
    """Raw measurements (None where not measurable, e.g. no pauses)."""

    bandwidth_hz: float
    nyquist_hz: float
    edge_drop_db: float
    pause_level_dbfs: float | None
    pause_snr_db: float | None
    line_strength_db: float
    jitter: float | None
    phase_irregularity: float


@dataclass(frozen=True)
class ArtifactRules:
    """Limits beyond which a measurement counts as an artifact."""

    bandwidth_ratio: float = 0.8  # effective bandwidth below this share of the available band
    edge_drop_db: float = 30.0  # ... with a cliff at least this steep (within 500 Hz)
    digital_silence_dbfs: float = -100.0  # pauses quieter than any real microphone chain
    pause_snr_db: float = 70.0  # or this much cleaner than the speech
    line_strength_db: float = 12.0  # a stationary spectral line this far above its neighbours
    jitter_min: float = 0.010  # median frame-to-frame pitch change below 1 %
    phase_irregularity_max: float = 1.45  # radians (uniformly random phase gives ~pi/2)


def _db(x: np.ndarray | float) -> np.ndarray | float:
    return 10.0 * np.log10(np.asarray(x) + 1e-12)


def measure(
    sp: Spectra, source_sample_rate: int, jitter: float | None, phase_irregularity: float
) -> ArtifactMeasures:
    """Measure the artifact cues from the shared STFT and the harmonic features."""
    power = sp.speech_power
    ltas = _db(power.mean(axis=1))
    peak = float(np.max(ltas))
    nyquist = min(sp.sample_rate, source_sample_rate) / 2.0
    usable = sp.freqs <= nyquist * 0.98
    above = np.flatnonzero((ltas >= peak - 60.0) & usable)
    bandwidth = float(sp.freqs[above[-1]]) if above.size else 0.0
    # steepness of the edge: level 250 Hz below the edge minus 250 Hz above it
    bin_hz = sp.freqs[1] - sp.freqs[0]
    k = max(1, int(round(250 / bin_hz)))
    i = int(above[-1]) if above.size else 0
    lo = float(np.mean(ltas[max(0, i - 2 * k) : max(1, i - k)]))
    hi_region = ltas[i + k : i + 2 * k + 1]
    edge_drop = float(lo - np.mean(hi_region)) if hi_region.size else 0.0

    pause_level = pause_snr = None
    pauses = ~sp.speech
    # keep pause frames at least 50 ms from speech, so VAD edges do not count as pause
    if pauses.any():
        # np.convolve's "same" output has the longer input's length: keep it to the frame count
        near = np.convolve(sp.speech.astype(float), np.ones(11), mode="full")[5 : 5 + sp.speech.size] > 0
        pauses = pauses & ~near
    if pauses.sum() * 0.01 >= PAUSE_MIN_S:
        pause_level = float(np.median(sp.frame_db[pauses]))
        speech_level = float(np.median(sp.frame_db[sp.speech])) if sp.speech.any() else pause_level
        pause_snr = speech_level - pause_level

    from scipy.ndimage import median_filter

    smooth = median_filter(ltas, size=9, mode="nearest")
    band = (sp.freqs >= 1000) & usable & (ltas > peak - 60.0)
    line_strength = float(np.max((ltas - smooth)[band])) if band.any() else 0.0
    return ArtifactMeasures(
        bandwidth, nyquist, edge_drop, pause_level, pause_snr, line_strength, jitter, phase_irregularity
    )


def find_artifacts(m: ArtifactMeasures, rules: ArtifactRules = ArtifactRules()) -> list[Anomaly]:
    """The artifacts that fire, as anomalies a person can read."""
    out: list[Anomaly] = []
    if (
        m.nyquist_hz >= 6000
        and m.bandwidth_hz < rules.bandwidth_ratio * m.nyquist_hz
        and m.edge_drop_db >= rules.edge_drop_db
    ):
        out.append(
            Anomaly(
                type="Band-limited spectrum",
                severity="medium",
                description=(
                    f"The spectrum stops abruptly at {m.bandwidth_hz / 1000:.1f} kHz (a {m.edge_drop_db:.0f} dB cliff) "
                    f"although the file carries up to {m.nyquist_hz / 1000:.1f} kHz; vocoders that synthesise a "
                    "limited band leave this edge."
                ),
                value=round(m.bandwidth_hz, 1),
                normal_range=(round(rules.bandwidth_ratio * m.nyquist_hz, 1), round(m.nyquist_hz, 1)),
            )
        )
    if m.pause_level_dbfs is not None and (
        m.pause_level_dbfs < rules.digital_silence_dbfs or (m.pause_snr_db or 0.0) > rules.pause_snr_db
    ):
        out.append(
            Anomaly(
                type="No room noise in pauses",
                severity="medium",
                description=(
                    f"Pauses between words are at {m.pause_level_dbfs:.0f} dBFS, {m.pause_snr_db:.0f} dB below the speech: "
                    "no breath or room noise, as in generated audio (or heavily gated recordings)."
                ),
                value=round(m.pause_level_dbfs, 1),
                normal_range=(rules.digital_silence_dbfs, 0.0),
            )
        )
    if m.line_strength_db > rules.line_strength_db:
        out.append(
            Anomaly(
                type="Vocoder periodicity",
                severity="medium",
                description=(
                    f"A stationary spectral line stands {m.line_strength_db:.1f} dB above its neighbourhood over the whole "
                    "speech; neural vocoders' upsampling layers leave such fixed tones, natural harmonics move with pitch."
                ),
                value=round(m.line_strength_db, 2),
                normal_range=(0.0, rules.line_strength_db),
            )
        )
    if m.jitter is not None and 0.0 < m.jitter < rules.jitter_min:
        out.append(
            Anomaly(
                type="Over-regular pitch",
                severity="low",
                description=(
                    f"Frame-to-frame (10 ms) pitch change is {100 * m.jitter:.2f} %, below the {100 * rules.jitter_min:.1f} % "
                    "that human voices show; synthetic pitch contours are often this smooth."
                ),
                value=round(m.jitter, 5),
                normal_range=(rules.jitter_min, 0.05),
            )
        )
    if m.phase_irregularity > rules.phase_irregularity_max:
        out.append(
            Anomaly(
                type="Incoherent phase",
                severity="low",
                description=(
                    f"Phase advances between frames scatter by {m.phase_irregularity:.2f} rad on average; "
                    "phase re-created by Griffin-Lim or similar vocoders is this incoherent."
                ),
                value=round(m.phase_irregularity, 3),
                normal_range=(0.0, rules.phase_irregularity_max),
            )
        )
    return out
