"""Perceptual hash (DCT pHash) of images and a near-duplicate index over them.

pHash: grayscale, resize to 32x32, 2-D DCT, keep the 8x8 lowest frequencies (without the DC
term's influence on the threshold: the median of the 64 coefficients), one bit per coefficient
above the median. Re-saves, re-encodes and small resizes of one picture stay within a few bits;
different pictures differ in about half of the 64.
"""

from __future__ import annotations

import io

import numpy as np

DEFAULT_THRESHOLD = 4  # bits of 64; measured on the corpus, see docs/corpus.md


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


_D32 = _dct_matrix(32)


def phash_bits(gray: np.ndarray) -> np.ndarray:
    """64 booleans from a 2-D grayscale array (any size)."""
    from PIL import Image

    small = np.asarray(Image.fromarray(gray.astype(np.uint8)).resize((32, 32), Image.Resampling.LANCZOS),
                       dtype=np.float64)
    coef = _D32 @ small @ _D32.T
    low = coef[:8, :8].ravel()
    return low > np.median(low)


def phash_hex(data: bytes) -> str:
    """16 hex digits (64 bits) of the image in ``data``; '' if it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            gray = np.asarray(im.convert("L"))
    except Exception:  # noqa: BLE001 - undecodable images simply get no hash
        return ""
    bits = phash_bits(gray)
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


class NearDuplicates:
    """Hashes seen so far, per label; ``find`` returns the first earlier file within the threshold.

    Only images of the same label are compared: a fake made from a real photo (inpainting, face
    edit) is a matched pair worth keeping, not a duplicate.
    """

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._hashes: dict[str, list[int]] = {}
        self._files: dict[str, list[str]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self.last_distance = -1

    def add(self, h: str, label: str, file: str) -> None:
        self._hashes.setdefault(label, []).append(int(h, 16))
        self._files.setdefault(label, []).append(file)
        self._arrays.pop(label, None)

    def find(self, h: str, label: str) -> str | None:
        if self.threshold < 0 or label not in self._hashes:
            return None
        arr = self._arrays.get(label)
        if arr is None:
            arr = self._arrays[label] = np.array(self._hashes[label], dtype=np.uint64)
        x = np.bitwise_xor(arr, np.uint64(int(h, 16)))
        d = np.bitwise_count(x)
        i = int(np.argmin(d))
        if int(d[i]) <= self.threshold:
            self.last_distance = int(d[i])
            return self._files[label][i]
        return None
