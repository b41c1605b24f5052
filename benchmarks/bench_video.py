"""Seconds of video analysis per minute of 720p video on the CPU, against only decoding the same frames.

    python benchmarks/bench_video.py                    # generated 1-minute 720p talking-face clip
    python benchmarks/bench_video.py --video a.mp4 b.mp4 --repeat 3 --max-frames 30
    python benchmarks/bench_video.py --detector video-v2 --repeat 1   # the v2 detector (its own 6 snippets)

For each clip it times, on this machine's CPU:
- decode only: indexing the clip + decoding exactly the frames the analysis decodes (the sampled
  snippets and the lip window), nothing else;
- every analysis stage as the pipeline runs them (preprocess: decode + faces + crops; temporal;
  the image model on the face crops; the sound track through the audio detector; fusion);
- for reference, decoding every frame of the clip.
and prints a table with seconds, seconds per minute of video and the ratio to decode-only, and the
real-time factor (analysis seconds per second of video; the target is under 0.3 on 2 cores).
For ``video-v2`` the preprocess stage holds the whole per-clip analysis (faces, CLIP on crops,
Whisper layers); its image-model stage is empty.
The image and audio detectors are the configured ones (``IMAGE_DETECTOR`` / ``AUDIO_DETECTOR``);
one that cannot load (no trained weights yet) is reported and its stage skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors.settings import get_settings  # noqa: E402


def generated_clip(seconds: float, fps: float) -> Path:
    """A cached 720p talking-face clip with sound (made once under temp/bench/)."""
    from detectors.video.synthetic import write_talking_video

    path = ROOT / "temp" / "bench" / f"talking_720p_{int(seconds)}s_{int(fps)}fps.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        tmp = path.with_suffix(".part.mp4")
        write_talking_video(tmp, seconds=seconds, fps=fps, size=(1280, 720), preset="veryfast", seed=1)
        tmp.rename(path)
        print(f"generated {path} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return path


def _try_load(name: str, settings):
    from detectors.base import create

    try:
        det = create(name, settings=settings)
        det.load()
        return det, None
    except (FileNotFoundError, KeyError, RuntimeError, ValueError) as exc:
        return None, f"{name} not available ({type(exc).__name__}: {str(exc)[:80]})"


def decode_only(path: Path, max_frames: int, lip_start: float | None, lip_frames: int) -> float:
    """Index + decode exactly the frames the analysis decodes (same plan, same reader, no analysis)."""
    from detectors.video.detector import ANALYSIS_MAX_SIDE, DECODE_THREADS
    from detectors.video.frames import SNIPPET_LENGTH, SnippetReader, plan_samples, probe_video

    t = time.perf_counter()
    index = probe_video(str(path), get_settings().max_video_seconds, max_frames)
    with SnippetReader(index, threads=DECODE_THREADS, max_side=ANALYSIS_MAX_SIDE) as reader:
        for s in plan_samples(index, max_frames):
            reader.read(s.time, SNIPPET_LENGTH)
        if lip_start is not None:
            for _ in reader.iter_frames(lip_start, lip_frames):
                pass
    return time.perf_counter() - t


def decode_everything(path: Path) -> float:
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            f.to_ndarray(format="rgb24")
    return time.perf_counter() - t


def analyse(path: Path, video, image, audio) -> tuple[dict[str, float], dict]:
    """One analysis, stage by stage, exactly as ``Analyzer._analyze_video`` runs them."""
    from detectors.media import make_media_ref
    from detectors.pipeline import infer_in_chunks

    times: dict[str, float] = {}
    t = time.perf_counter()
    ref = make_media_ref(path, "video")
    prepared = video.preprocess(ref)
    times["preprocess (decode, faces, crops, lip window)"] = time.perf_counter() - t
    t = time.perf_counter()
    prepared.payload["temporal"] = video.temporal(prepared)
    times["temporal (flow, jitter, flicker, lip sync)"] = time.perf_counter() - t
    scores: list[float] = []
    if image is not None and prepared.model_inputs:
        t = time.perf_counter()
        scores = infer_in_chunks(image, prepared.model_inputs)
        times[f"image model ({len(scores)} face crops)"] = time.perf_counter() - t
    audio_result = None
    if audio is not None and prepared.audio is not None:
        t = time.perf_counter()
        ap = audio.preprocess_clip(prepared.audio, ref)
        audio_result = audio.postprocess(ap, infer_in_chunks(audio, ap.model_inputs))
        times["audio track"] = time.perf_counter() - t
    if image is not None:
        t = time.perf_counter()
        video.postprocess(prepared, scores, audio_result=audio_result)
        times["fusion (postprocess)"] = time.perf_counter() - t
    return times, prepared.payload


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", nargs="*", default=None, help="clips to time (default: a generated 720p minute)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the generated clip")
    ap.add_argument("--fps", type=float, default=30.0, help="frame rate of the generated clip")
    ap.add_argument("--repeat", type=int, default=3, help="runs per clip; the median is reported")
    ap.add_argument("--max-frames", type=int, default=None, help="MAX_VIDEO_FRAMES (default: settings)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: settings)")
    ap.add_argument("--detector", default=None, help="video detector (default: settings' VIDEO_DETECTOR)")
    args = ap.parse_args(argv)
    if args.max_frames:
        os.environ["MAX_VIDEO_FRAMES"] = str(args.max_frames)
    get_settings.cache_clear()
    settings = get_settings()
    import torch

    torch.set_num_threads(args.threads or settings.torch_threads)
    from detectors.base import create
    from detectors.pipeline import detector_name

    video = create(args.detector or settings.video_detector, settings=settings)
    video.load()
    image, image_note = _try_load(detector_name(settings, "image"), settings)
    audio, audio_note = _try_load(detector_name(settings, "audio"), settings)
    clips = [Path(p) for p in args.video] if args.video else [generated_clip(args.seconds, args.fps)]
    # video-v2 samples its own number of snippets (its analyser's settings)
    n_frames = getattr(getattr(video, "analyser", None), "settings", settings).max_video_frames
    print(f"CPU: {os.cpu_count()} cores visible, torch threads {torch.get_num_threads()}, detector "
          f"{args.detector or settings.video_detector}, snippets {n_frames}, runs per clip: {args.repeat} (median)")
    for note in (image_note, audio_note):
        if note:
            print(f"note: {note}; that stage is left out of the total")
    for clip in clips:
        runs: list[dict[str, float]] = []
        decodes: list[float] = []
        payload: dict = {}
        for _ in range(max(1, args.repeat)):
            times, payload = analyse(clip, video, image, audio)
            runs.append(times)
            lip = payload.get("lip")
            lip_frames = 0 if lip is None else len(lip["energy"])
            decodes.append(decode_only(clip, n_frames, None if lip is None else lip["start"],
                                       lip_frames))
        full = decode_everything(clip)
        v = payload["video"]
        minutes = v["duration"] / 60.0
        stages = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        total = sum(stages.values())
        dec = statistics.median(decodes)
        print(f"\n{clip.name}: {v['width']}x{v['height']} {v['codec']}, {v['duration']:.1f} s, {v['totalFrames']} frames, "
              f"{v['keyframes']} key frames; analysed {len(payload['samples'])} snippets, "
              f"{payload['summary']['faces']} face crops, decoded {payload['decode']['decodedFrames']} frames")
        print("| stage | seconds | s per minute of video | x decode-only |")
        print("|---|---:|---:|---:|")
        print(f"| decode only (the same sampled frames) | {dec:.2f} | {dec / minutes:.2f} | 1.00 |")
        for name, s in stages.items():
            print(f"| {name} | {s:.2f} | {s / minutes:.2f} | {s / dec:.2f} |")
        print(f"| **total analysis** | **{total:.2f}** | **{total / minutes:.2f}** | **{total / dec:.2f}** |")
        print(f"| reference: decode every frame | {full:.2f} | {full / minutes:.2f} | {full / dec:.2f} |")
        print(f"real-time factor: {total / max(v['duration'], 1e-6):.3f} (analysis seconds per second of video; "
              f"target < 0.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
