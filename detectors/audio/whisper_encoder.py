"""A small torch Whisper encoder that reads CTranslate2's ``model.bin`` and returns every layer.

CTranslate2's ``encode`` gives only the last layer; the synthesis artefacts live in the early
and middle layers (Kawa et al., Interspeech 2023), and a torch module can later be fine-tuned.
``read_ct2`` parses the binary (version 6: a header, then named variables with shape, dtype
and raw bytes, then aliases); ``WhisperEncoder`` is the encoder of Radford et al. (two GELU
convolutions, sinusoidal positions, pre-norm transformer blocks, a final layer norm).
``log_mel`` is Whisper's own front end (80 mel bins, 25 ms Hann window, 10 ms hop, log10,
8-decade floor, (x + 4) / 4).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
MAX_FRAMES = 3000  # 30 s of mel frames; the encoder's positions cover 1500 (after stride 2)

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path | str, prefix: str = "encoder/") -> tuple[dict[str, np.ndarray], dict]:
    """The variables of a CTranslate2 model file whose names start with ``prefix`` (+ header info)."""
    b = Path(path).read_bytes()
    o = 0

    def take(fmt: str):
        nonlocal o
        v = struct.unpack_from(fmt, b, o)
        o += struct.calcsize(fmt)
        return v

    def string() -> str:
        nonlocal o
        (n,) = take("<H")
        s = b[o : o + n].rstrip(b"\0").decode()
        o += n
        return s

    (version,) = take("<I")
    if version < 4:
        raise ValueError(f"CTranslate2 model binary version {version} is not supported (need >= 4)")
    spec = string()
    (revision,) = take("<I")
    (n_vars,) = take("<I")
    out: dict[str, np.ndarray] = {}
    for _ in range(n_vars):
        name = string()
        (rank,) = take("<B")
        dims = take(f"<{rank}I") if rank else ()
        (dtype_id,) = take("<B")
        (n_bytes,) = take("<I")
        if name.startswith(prefix):
            if dtype_id not in _DTYPES:
                raise ValueError(f"{name}: unsupported CTranslate2 dtype id {dtype_id}")
            arr = np.frombuffer(b, dtype=_DTYPES[dtype_id], count=n_bytes // np.dtype(_DTYPES[dtype_id]).itemsize, offset=o)
            out[name[len(prefix):]] = arr.reshape(dims).copy()
        o += n_bytes
    return out, {"version": version, "spec": spec, "revision": revision}


class Block(nn.Module):
    """Pre-norm self-attention + MLP block (CTranslate2 fuses q, k, v into one projection)."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder; ``forward`` returns the hidden states of every layer."""

    def __init__(self, d: int = 512, heads: int = 8, layers: int = 6, n_mels: int = N_MELS, n_pos: int = 1500) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(n_pos, d))
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(d)

    @property
    def n_states(self) -> int:
        return len(self.blocks) + 1

    def forward(self, mel: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """``mel`` (batch, n_mels, frames <= 3000) -> [embeddings, block 1, ..., last block + final norm].

        State ``i`` is the input of block ``i`` (0 = convolutions + positions); the last one goes
        through the final layer norm (what CTranslate2's ``encode`` returns). ``upto`` stops early.
        """
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.positions.shape[0]:
            raise ValueError(f"{mel.shape[-1]} mel frames: the encoder takes at most {2 * self.positions.shape[0]}")
        x = x + self.positions[: x.shape[1]]
        states = [x]
        last = len(self.blocks) if upto is None else min(upto, len(self.blocks))
        for i, block in enumerate(self.blocks[:last]):
            x = block(x)
            states.append(self.ln_post(x) if i == len(self.blocks) - 1 else x)
        return states

    @classmethod
    def from_ct2(cls, variables: Mapping[str, np.ndarray]) -> WhisperEncoder:
        """Build from ``read_ct2`` output (encoder variables, names without the ``encoder/`` prefix)."""
        d = int(variables["conv1/weight"].shape[0])
        n_mels = int(variables["conv1/weight"].shape[1])
        layers = len({k.split("/")[0] for k in variables if k.split("/")[0][6:].isdigit() and k.startswith("layer_")})
        heads = int(np.asarray(variables.get("num_heads", d // 64)).reshape(-1)[0])
        n_pos = int(variables["position_encodings/encodings"].shape[0])
        enc = cls(d, heads, layers, n_mels, n_pos)

        def t(name: str) -> torch.Tensor:
            return torch.from_numpy(np.asarray(variables[name], dtype=np.float32))

        sd = {
            "conv1.weight": t("conv1/weight"), "conv1.bias": t("conv1/bias"),
            "conv2.weight": t("conv2/weight"), "conv2.bias": t("conv2/bias"),
            "positions": t("position_encodings/encodings"),
            "ln_post.weight": t("layer_norm/gamma"), "ln_post.bias": t("layer_norm/beta"),
        }
        for i in range(layers):
            p = f"layer_{i}/"
            sd.update({
                f"blocks.{i}.ln1.weight": t(p + "self_attention/layer_norm/gamma"),
                f"blocks.{i}.ln1.bias": t(p + "self_attention/layer_norm/beta"),
                f"blocks.{i}.qkv.weight": t(p + "self_attention/linear_0/weight"),
                f"blocks.{i}.qkv.bias": t(p + "self_attention/linear_0/bias"),
                f"blocks.{i}.out.weight": t(p + "self_attention/linear_1/weight"),
                f"blocks.{i}.out.bias": t(p + "self_attention/linear_1/bias"),
                f"blocks.{i}.ln2.weight": t(p + "ffn/layer_norm/gamma"),
                f"blocks.{i}.ln2.bias": t(p + "ffn/layer_norm/beta"),
                f"blocks.{i}.fc1.weight": t(p + "ffn/linear_0/weight"),
                f"blocks.{i}.fc1.bias": t(p + "ffn/linear_0/bias"),
                f"blocks.{i}.fc2.weight": t(p + "ffn/linear_1/weight"),
                f"blocks.{i}.fc2.bias": t(p + "ffn/linear_1/bias"),
            })
        enc.load_state_dict(sd)
        return enc.eval()

    def to_ct2_variables(self) -> dict[str, np.ndarray]:
        """The inverse of ``from_ct2`` (fp16 like the shipped model; used by tests' stand-in files)."""
        sd = {k: v.detach().numpy().astype(np.float16) for k, v in self.state_dict().items()}
        out = {
            "conv1/weight": sd["conv1.weight"], "conv1/bias": sd["conv1.bias"],
            "conv2/weight": sd["conv2.weight"], "conv2/bias": sd["conv2.bias"],
            "position_encodings/encodings": sd["positions"],
            "layer_norm/gamma": sd["ln_post.weight"], "layer_norm/beta": sd["ln_post.bias"],
            "num_heads": np.array(self.blocks[0].heads, dtype=np.int16),
        }
        names = {"ln1": "self_attention/layer_norm", "qkv": "self_attention/linear_0", "out": "self_attention/linear_1",
                 "ln2": "ffn/layer_norm", "fc1": "ffn/linear_0", "fc2": "ffn/linear_1"}
        for i in range(len(self.blocks)):
            for mine, theirs in names.items():
                w, b = ("gamma", "beta") if mine.startswith("ln") else ("weight", "bias")
                out[f"layer_{i}/{theirs}/{w}"] = sd[f"blocks.{i}.{mine}.weight"]
                out[f"layer_{i}/{theirs}/{b}"] = sd[f"blocks.{i}.{mine}.bias"]
        return out


def write_ct2(path: Path | str, variables: Mapping[str, np.ndarray], prefix: str = "encoder/", spec: str = "WhisperSpec") -> None:
    """Write variables in CTranslate2's binary layout (version 6); for stand-in models in tests."""
    inv = {np.dtype(v): k for k, v in _DTYPES.items()}

    def string(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    parts = [struct.pack("<I", 6), string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, arr in variables.items():
        arr = np.array(arr, order="C")  # (ascontiguousarray would turn a scalar into 1-D)
        parts += [string(prefix + name), struct.pack("<B", arr.ndim), struct.pack(f"<{arr.ndim}I", *arr.shape),
                  struct.pack("<B", inv[arr.dtype]), struct.pack("<I", arr.nbytes), arr.tobytes()]
    parts.append(struct.pack("<I", 0))
    Path(path).write_bytes(b"".join(parts))


_MEL_FILTERS: dict[int, torch.Tensor] = {}


def mel_filters(n_mels: int = N_MELS) -> torch.Tensor:
    if n_mels not in _MEL_FILTERS:
        import librosa

        _MEL_FILTERS[n_mels] = torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels)).float()
    return _MEL_FILTERS[n_mels]


def log_mel(samples: np.ndarray, n_mels: int = N_MELS) -> torch.Tensor:
    """Whisper's log-mel spectrogram of 16 kHz mono audio: (n_mels, len // 160)."""
    audio = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if audio.numel() < N_FFT:
        audio = F.pad(audio, (0, N_FFT - audio.numel()))
    stft = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = stft[..., :-1].abs() ** 2
    spec = torch.clamp(mel_filters(n_mels) @ power, min=1e-10).log10()
    spec = torch.maximum(spec, spec.max() - 8.0)
    return (spec + 4.0) / 4.0


def load_encoder(model_dir: Path | str) -> WhisperEncoder:
    """The torch encoder from a CTranslate2 Whisper folder (``model.bin``)."""
    variables, _ = read_ct2(Path(model_dir) / "model.bin")
    return WhisperEncoder.from_ct2(variables)
