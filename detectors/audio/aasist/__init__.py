"""The official AASIST anti-spoofing model (vendored; see LICENSE) as an extra audio v2 stream."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from detectors.errors import CorruptMediaError, ModelNotReadyError

HERE = Path(__file__).parent
WEIGHTS = HERE / "AASIST.pth"
SHA256 = "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0"
N_SAMPLES = 64_600  # about 4 s at 16 kHz: the input length AASIST was trained on
MAX_WINDOWS = 4


class AasistStream:
    """AASIST over up to ``MAX_WINDOWS`` 4 s windows: mean spoof logit margin and mean 160-d embedding.

    AASIST's class 1 is bona fide, so ``score`` = logit(spoof) - logit(bona fide).
    """

    modality = "audio"
    name = "aasist-asvspoof19la"
    version = "1"

    def __init__(self, threads: int = 1, max_windows: int = MAX_WINDOWS) -> None:
        self.threads = threads
        self.max_windows = max_windows
        if max_windows != MAX_WINDOWS:  # another window count is another feature: its own cache name
            self.name = f"{AasistStream.name}-{max_windows}w"
        self.model = None

    def load(self) -> None:
        import torch

        from detectors.audio.aasist.model import Model

        if hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() != SHA256:
            raise ModelNotReadyError(f"{WEIGHTS}: sha256 differs from the vendored release")
        torch.set_num_threads(self.threads)
        model = Model(json.loads((HERE / "config.json").read_text()))
        model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
        self.model = model.eval()

    def windows(self, x: np.ndarray) -> np.ndarray:
        if x.size < N_SAMPLES:  # the original recipe repeats short clips to the input length
            x = np.tile(x, N_SAMPLES // max(x.size, 1) + 1)
        starts = np.linspace(0, x.size - N_SAMPLES, min(self.max_windows, x.size // N_SAMPLES)).astype(int)
        return np.stack([x[s : s + N_SAMPLES] for s in starts]).astype(np.float32)

    def window_scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if self.model is None:
            self.load()
        with torch.inference_mode():
            emb, logits = self.model(torch.from_numpy(self.windows(x)))
        return (logits[:, 0] - logits[:, 1]).numpy(), emb.numpy()

    def features(self, path: Path) -> dict[str, np.ndarray]:
        from detectors.audio.v2_streams import decode16k

        x = decode16k(path)
        if x.size < 1600:
            raise CorruptMediaError("under 0.1 s of audio")
        s, e = self.window_scores(x)
        return {"score": np.array([s.mean()], dtype=np.float32), "emb": e.mean(axis=0)}
