"""Augmentation applied to real and fake training audio alike, so the model cannot learn the
container, the codec, the sample rate or the loudness instead of the synthesis.

Real training speech is mostly 8 kHz (nothing above 4 kHz) while the labelled fakes are 16-24 kHz:
both classes are therefore randomly band-limited (low-pass or a trip through a lower sample rate),
sent through lossy codecs (MP3, AAC, Opus at random bitrates), loudness-normalised to a random
level, and given a little noise now and then.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

SR = 16_000
CODECS = (
    ("mp3", "libmp3lame", (24_000, 32_000, 48_000, 64_000, 96_000)),
    ("adts", "aac", (24_000, 32_000, 48_000, 64_000)),
    ("ogg", "libopus", (12_000, 16_000, 24_000, 32_000)),
)


def loudness_normalise(x: np.ndarray, target_dbfs: float) -> np.ndarray:
    """Scale so the RMS of the louder half of 20 ms frames sits at ``target_dbfs``; clip-safe."""
    n = x.size // 320 * 320
    if n == 0:
        return x
    frames = np.sqrt(np.mean(x[:n].reshape(-1, 320) ** 2, axis=1) + 1e-12)
    active = np.sort(frames)[frames.size // 2 :]
    level = 20 * np.log10(np.sqrt(np.mean(active**2)) + 1e-12)
    y = x * 10 ** ((target_dbfs - level) / 20)
    peak = np.abs(y).max()
    return (y / peak * 0.99 if peak > 0.99 else y).astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if sr_in == sr_out:
        return x
    g = np.gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def low_pass(x: np.ndarray, cutoff_hz: float, order: int = 8) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, cutoff_hz, btype="low", fs=SR, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Either a trip through 8/11.025/12 kHz or a low-pass at 3.4-7 kHz."""
    if rng.random() < 0.5:
        rate = int(rng.choice([8_000, 11_025, 12_000]))
        return resample(resample(x, SR, rate), rate, SR)[: x.size]
    return low_pass(x, float(rng.uniform(3_400, 7_000)), order=int(rng.choice([4, 8, 12])))


def codec_round_trip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encode with a random lossy codec and bitrate in memory (PyAV), decode back to 16 kHz mono."""
    import av

    fmt, codec, rates = CODECS[int(rng.integers(len(CODECS)))]
    rate = 48_000 if codec == "libopus" else int(rng.choice([16_000, 22_050, 24_000]))
    y = resample(x, SR, rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        stream.bit_rate = int(rng.choice(rates))
        fs = stream.codec_context.frame_size or 1024
        pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16)
        pcm = np.pad(pcm, (0, (-pcm.size) % fs))
        for i in range(0, pcm.size, fs):
            frame = av.AudioFrame.from_ndarray(pcm[i : i + fs].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for frame in container.decode(audio=0):
            chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(frame))
        chunks.extend(o.to_ndarray().reshape(-1) for o in resampler.resample(None))
    z = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros_like(x)
    z = z[: x.size] if z.size >= x.size else np.pad(z, (0, x.size - z.size))
    return z


def augment(
    x: np.ndarray,
    rng: np.random.Generator,
    band_limited_source: bool,
    band_limit_p: float = 0.5,
    noise_p: float = 0.3,
    noise_snr: tuple[float, float] = (30.0, 55.0),
) -> np.ndarray:
    """One random training variant of ``x`` (16 kHz). ``band_limited_source`` marks audio that has
    nothing above 4 kHz already (8 kHz recordings); it is not band-limited again."""
    y = x.astype(np.float32)
    if not band_limited_source and rng.random() < band_limit_p:
        y = band_limit(y, rng)
    if rng.random() < 0.4:
        y = codec_round_trip(y, rng)
    if rng.random() < noise_p:
        noise_db = float(rng.uniform(*noise_snr))
        rms = np.sqrt(np.mean(y**2) + 1e-12)
        y = y + rng.standard_normal(y.size).astype(np.float32) * rms * 10 ** (-noise_db / 20)
    return loudness_normalise(y, float(rng.uniform(-32, -16)))
