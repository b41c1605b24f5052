"""Feature streams by name: what a training config's ``streams: [{name: ...}]`` refers to.

A stream is any ``detectors.training.streams.FeatureStream`` (``name``, ``version``, ``modality``,
``load()``, ``features(path) -> {feature name: 1-D array}``). The module that defines a stream
registers a factory for it under a ``<modality>/<short name>`` name, once, at import::

    from detectors.training.stream_registry import register_stream

    @register_stream("image/clip")
    class ClipStream: ...                    # a class is a factory: ClipStream(**params)

    register_stream("audio/whisper-base", lambda layers=(2,): WhisperLayers("base", layers))

A config then names it (``{name: image/clip, features: [whole.pen], params: {...}}``) and
``create_stream`` builds it with the config's ``params``. Configs need not import anything: on a
miss, the modules in ``PROVIDERS`` for the name's modality (and the config's own ``modules``) are
imported, which registers their streams. A name registered twice with another factory is an error.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from detectors.training.streams import FeatureStream

Factory = Callable[..., FeatureStream]
F = TypeVar("F", bound=Callable[..., Any])

# Modules that register the streams of each modality when imported (tried on a lookup miss).
PROVIDERS: dict[str, tuple[str, ...]] = {
    "image": ("detectors.evaluation.metadata", "detectors.image.streams"),
    "audio": ("detectors.evaluation.metadata", "detectors.audio.v2_streams"),
    "video": ("detectors.evaluation.metadata",),
}

_FACTORIES: dict[str, Factory] = {}


def register_stream(name: str, factory: Factory | None = None) -> Any:
    """Register ``factory`` under ``name`` (``<modality>/<short>``); without a factory, a decorator."""
    if "/" not in name or name.split("/", 1)[0] not in PROVIDERS:
        raise ValueError(f"stream name {name!r} must be '<modality>/<name>' with modality in {sorted(PROVIDERS)}")

    def add(f: F) -> F:
        if name in _FACTORIES and _FACTORIES[name] is not f:
            raise ValueError(f"stream {name!r} registered twice with different factories")
        _FACTORIES[name] = f
        return f

    return add(factory) if factory is not None else add


def unregister_stream(name: str) -> None:
    """Forget a registration (tests)."""
    _FACTORIES.pop(name, None)


def _import_providers(name: str, modules: Iterable[str] = ()) -> list[str]:
    """Import the config's modules and the providers of the name's modality, one at a time until
    ``name`` is registered; returns the import errors."""
    errors = []
    for module in (*modules, *PROVIDERS.get(name.split("/", 1)[0], ())):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            errors.append(f"{module}: {exc}")
        if name in _FACTORIES:
            break
    return errors


def known_streams(modules: Iterable[str] = ()) -> list[str]:
    """Every registered stream name (after importing ``modules`` and all providers)."""
    for modality in PROVIDERS:
        _import_providers(f"{modality}/", modules)
    return sorted(_FACTORIES)


def stream_factory(name: str, modules: Iterable[str] = ()) -> Factory:
    """The factory registered under ``name``, importing providers on a miss."""
    if name not in _FACTORIES:
        errors = _import_providers(name, modules)
        if name not in _FACTORIES:
            hint = f" (imports that failed: {'; '.join(errors)})" if errors else ""
            raise KeyError(f"no stream {name!r}; registered: {sorted(_FACTORIES)}{hint}")
    return _FACTORIES[name]


def create_stream(name: str, params: dict | None = None, modules: Iterable[str] = ()) -> FeatureStream:
    """Build a registered stream with the config's parameters and check it is a ``FeatureStream``."""
    stream = stream_factory(name, modules)(**(params or {}))
    if not isinstance(stream, FeatureStream):
        raise TypeError(f"stream {name!r} built a {type(stream).__name__}, not a FeatureStream "
                        "(needs name, version, modality, load(), features(path))")
    return stream
