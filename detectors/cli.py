"""``deepfake-detect FILE...``: analyse files in-process (no Ray, no server) with the service's detectors."""

from __future__ import annotations

import argparse
import json
import sys

from detectors.errors import DetectionError
from detectors.intake import Scratch, open_source, parse_media_type
from detectors.schema import AnalysisResult


def _short(source: str, width: int = 48) -> str:
    return source if len(source) <= width else "…" + source[-(width - 1) :]


def _row(source: str, result: AnalysisResult | None, error: DetectionError | None) -> str:
    source = _short(source)
    if error is not None:
        return f"{source:<48} {'error':<12} {'':>8} {'':>7}  {error.code}: {error.message}"
    assert result is not None
    p = "" if result.fake_probability is None else f"{result.fake_probability:.3f}"
    why = result.verdict_reason or ", ".join(a.type for a in result.anomalies[:3])
    return f"{source:<48} {result.verdict:<12} {p:>8} {result.confidence:>6.1f}%  {result.media_type}: {why}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deepfake-detect",
        description="Tell whether images, videos or audio files are manipulated or synthesised.",
    )
    parser.add_argument("files", nargs="+", help="media files (or http/https URLs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--media-type", choices=["image", "video", "audio"], help="expected type (default: sniff)")
    args = parser.parse_args(argv)

    from detectors.logs import setup_logging
    from detectors.pipeline import Analyzer
    from detectors.settings import get_settings

    try:
        settings = get_settings().model_copy(update={"allow_local_paths": True, "local_path_roots": []})
    except ValueError as exc:
        print(f"deepfake-detect: bad configuration: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_dir, console=sys.stderr)
    analyzer = Analyzer(settings)
    failed = 0
    if not args.json:
        print(f"{'file':<48} {'verdict':<12} {'p(fake)':>8} {'conf':>7}  evidence")
    for source in args.files:
        scratch = Scratch(settings, prefix="cli-")  # made only for a download
        result, error = None, None
        try:
            ref = open_source(source, parse_media_type(args.media_type), settings, scratch)
            result = analyzer.analyze_ref(ref)
            result.source = source
        except DetectionError as exc:
            error, failed = exc, failed + 1
        finally:
            scratch.remove()
        if args.json:
            body = result.to_json_dict() if result else {"source": source, **error.to_dict()}  # type: ignore[union-attr]
            print(json.dumps(body), flush=True)
        else:
            print(_row(source, result, error), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
