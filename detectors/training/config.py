"""A detector's training, described by a small YAML config (one per detector, like DeepfakeBench).

The config names everything a probe-based training run decides: which rows (manifest, split,
modality, per-group cap), which views (as-is plus how many draws of the modality's ``aug`` view;
the re-encodings the held-out numbers are also reported on), which feature streams (registry
names, see ``stream_registry``; the feature names to use from each), the head (linear probes, the
C grid chosen on family-grouped inner folds, non-negative fusion), the calibration and the
verdict policy's error-rate targets. ``load_config`` validates it: an unknown key, a wrong type
or an impossible value is an error naming the key, never a silent default.

Example (``detectors/training/configs/*.yaml``)::

    name: image-example
    modality: image
    data: {manifest: corpus, split: models/split.json, cap_per_group: 300}
    views: {aug: aug, aug_draws: 1, reencoded: [jpeg90]}
    streams:
      - {name: image/clip, features: [whole.pen]}
      - {name: image/forensic}
    head: {Cs: [0.001, 0.01, 0.1, 1.0], fusion: nonnegative}
    calibration: {method: platt}
    operating_points: {max_fpr: 0.05, max_fnr: 0.05}
    logo: {min_fakes: 20, n_real_groups: 5}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from detectors.training.probe import DEFAULT_CS

MODALITIES = ("image", "audio", "video")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """The training config is malformed (the message names the key)."""


@dataclass(frozen=True)
class DataConfig:
    """Which rows: the manifest ('corpus' = corpus_dir()), the source split, filters and a per-group cap."""

    manifest: str = "corpus"
    split: str = "models/split.json"
    cap_per_group: int = 0  # at most N rows per (fake family | real source); 0 = all
    kinds: tuple[str, ...] = ()  # only these kinds (empty: all)
    exclude_groups: tuple[str, ...] = ()  # corpus groups to leave out


@dataclass(frozen=True)
class ViewsConfig:
    """Views: the head trains on as-is plus ``aug_draws`` draws of ``aug``; ``reencoded`` views are
    where held-out rows are scored too (train as-is, test re-encoded)."""

    aug: str = "aug"
    aug_draws: int = 0
    reencoded: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamConfig:
    """One feature stream: its registry name, the feature names to concatenate (empty: all), and
    keyword parameters for its factory."""

    name: str
    features: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The stream's column name in tables and weights (name, plus the features when chosen)."""
        return self.name + (":" + "+".join(self.features) if self.features else "")


@dataclass(frozen=True)
class HeadConfig:
    """Linear probes (C chosen on family-grouped inner folds) and their non-negative fusion."""

    type: str = "linear-probe"
    Cs: tuple[float, ...] = DEFAULT_CS
    n_inner: int = 3
    weighted: bool = True  # damp dominant families / sources (``balanced_weights``)
    fusion: str = "nonnegative"  # or "none" (a single stream)


@dataclass(frozen=True)
class CalibrationConfig:
    method: str = "platt"  # fitted on the split's val sources


@dataclass(frozen=True)
class OperatingPointsConfig:
    """Verdict policy targets: at most max_fpr of held-out reals called fake, max_fnr of fakes real."""

    max_fpr: float = 0.05
    max_fnr: float = 0.05


@dataclass(frozen=True)
class LogoConfig:
    min_fakes: int = 20
    n_real_groups: int = 5
    n_boot: int = 200


@dataclass(frozen=True)
class TrainingConfig:
    """The whole training description of one detector."""

    name: str
    modality: str
    streams: tuple[StreamConfig, ...]
    detector: str = ""  # the registered detector that loads the result (documentation)
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    operating_points: OperatingPointsConfig = field(default_factory=OperatingPointsConfig)
    logo: LogoConfig = field(default_factory=LogoConfig)
    modules: tuple[str, ...] = ()  # modules to import first (they register streams / views)
    seed: int = 0
    source: str = ""  # the file it was read from

    def to_dict(self) -> dict:
        return _plain(self)


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` as type ``tp`` (dataclasses, tuples, mappings, scalars), or ConfigError."""
    origin = get_origin(tp)
    if is_dataclass(tp):
        return _build(tp, value, where)
    if origin is tuple:
        item_tp = get_args(tp)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}" if where else name)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{where or 'config'}: missing required key {name!r}")
    return cls(**kwargs)


def validate(cfg: TrainingConfig) -> None:
    """Values that parse but cannot work: raise ConfigError naming the key."""
    if cfg.modality not in MODALITIES:
        raise ConfigError(f"modality: {cfg.modality!r} is not one of {MODALITIES}")
    if not cfg.streams:
        raise ConfigError("streams: name at least one stream")
    keys = [s.key for s in cfg.streams]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"streams: listed twice: {sorted({k for k in keys if keys.count(k) > 1})}")
    if cfg.head.type != "linear-probe":
        raise ConfigError(f"head.type: only 'linear-probe' is implemented, got {cfg.head.type!r}")
    if cfg.head.fusion not in ("nonnegative", "none"):
        raise ConfigError(f"head.fusion: 'nonnegative' or 'none', got {cfg.head.fusion!r}")
    if cfg.head.fusion == "none" and len(cfg.streams) > 1:
        raise ConfigError("head.fusion: 'none' needs exactly one stream")
    if not cfg.head.Cs or any(c <= 0 for c in cfg.head.Cs):
        raise ConfigError("head.Cs: a non-empty list of positive numbers")
    if cfg.head.n_inner < 2:
        raise ConfigError("head.n_inner: at least 2")
    if cfg.calibration.method != "platt":
        raise ConfigError(f"calibration.method: only 'platt' is implemented, got {cfg.calibration.method!r}")
    for key in ("max_fpr", "max_fnr"):
        v = getattr(cfg.operating_points, key)
        if not 0 < v < 0.5:
            raise ConfigError(f"operating_points.{key}: between 0 and 0.5, got {v}")
    if cfg.views.aug_draws < 0 or cfg.data.cap_per_group < 0:
        raise ConfigError("views.aug_draws and data.cap_per_group must not be negative")
    if cfg.logo.min_fakes < 1 or cfg.logo.n_real_groups < 1 or cfg.logo.n_boot < 0:
        raise ConfigError("logo: min_fakes and n_real_groups at least 1, n_boot not negative")


def config_from_dict(data: Mapping[str, Any], source: str = "") -> TrainingConfig:
    """A validated config from a parsed mapping."""
    cfg = _build(TrainingConfig, {**data, "source": source} if source else data, "")
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> TrainingConfig:
    """Read and validate a YAML training config; a bare name is looked up in ``configs/``."""
    import yaml

    p = Path(path)
    if not p.exists() and not p.suffix and (CONFIG_DIR / f"{p}.yaml").exists():
        p = CONFIG_DIR / f"{p}.yaml"
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return config_from_dict(data or {}, source=str(p))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
