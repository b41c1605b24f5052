"""Seconds of video analysis per minute of 720p video on the CPU, against only decoding the same frames.

    python benchmarks/bench_video.py                    # generated 1-minute 720p talking-face clip
    python benchmarks/bench_video.py --video a.mp4 b.mp4 --repeat 3 --max-frames 30
    python benchmarks/bench_video.py --detector video-v2 --repeat 1   # the v2 detector (its own 6 snippets)

For each clip it times, on this machine's CPU:
- decode only: indexing the clip + decoding exactly the frames the analysis decodes (the sampled
  snippets and the lip window), nothing else;
- every step of the video recipe, run by the recipe itself (``Analyzer.analyze_ref``) and timed
  from its progress stages (prepare: decode + faces + crops; temporal; the image model on the face
  crops; the sound track through the audio recipe; fusion);
- for reference, decoding every frame of the clip.
and prints a table with seconds, seconds per minute of video and the ratio to decode-only, and the
real-time factor (analysis seconds per second of video; the target is under 0.3 on 2 cores).
For ``video-v2`` the prepare step holds the whole per-clip analysis (faces, CLIP on crops,
Whisper layers); its image-model step is empty (left out of the table).
The image and audio detectors are the configured ones (``IMAGE_DETECTOR`` / ``AUDIO_DETECTOR``).
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


# Progress stages of the video recipe (``detectors/recipes/base.py``) that end a step; the time up to
# any other stage (the detector's own prepare stages) counts as prepare, after the last one as fusion.
STEP_ENDS = {"video_temporal": "temporal (flow, jitter, flicker, lip sync)",
             "video_faces_scored": "image model (face crops)", "video_audio": "sound track (audio recipe)",
             "aggregating": "fusion (postprocess)"}
PREPARE = "prepare (decode, faces, crops, lip window; video-v2: CLIP, Whisper)"


def analyse(path: Path, analyzer) -> tuple[dict[str, float], object, dict]:
    """One analysis by the video recipe itself (``Analyzer.analyze_ref``), timed per step from the
    recipe's progress stages; returns (seconds per step, the result, the prepared payload, kept to
    replay its decode plan)."""
    from detectors.media import make_media_ref

    video = analyzer.detector("video")
    kept: list = []
    preprocess = video.preprocess

    def keep(*args, **kwargs):
        kept.append(preprocess(*args, **kwargs))
        return kept[-1]

    times = {PREPARE: 0.0, **{name: 0.0 for name in STEP_ENDS.values()}}
    last = [time.perf_counter()]

    def mark(stage: str, fraction: float, extra: dict) -> None:
        now = time.perf_counter()
        times[STEP_ENDS.get(stage, PREPARE)] += now - last[0]
        last[0] = now

    video.preprocess = keep
    try:
        result = analyzer.analyze_ref(make_media_ref(path, "video"), mark)
    finally:
        del video.preprocess  # the bound method again
    times[STEP_ENDS["aggregating"]] += time.perf_counter() - last[0]
    return times, result, kept[0].payload


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
    from detectors.pipeline import Analyzer

    if args.detector:
        settings = settings.model_copy(update={"video_detector": args.detector})
    analyzer = Analyzer(settings)
    video = analyzer.detector("video")
    clips = [Path(p) for p in args.video] if args.video else [generated_clip(args.seconds, args.fps)]
    # video-v2 samples its own number of snippets (its analyser's settings)
    n_frames = getattr(getattr(video, "analyser", None), "settings", settings).max_video_frames
    print(f"CPU: {os.cpu_count()} cores visible, torch threads {torch.get_num_threads()}, detector "
          f"{args.detector or settings.video_detector}, snippets {n_frames}, runs per clip: {args.repeat} (median)")
    for clip in clips:
        runs: list[dict[str, float]] = []
        decodes: list[float] = []
        payload: dict = {}
        analyse(clip, analyzer)  # warm-up: loads the image and audio detectors on first use
        for _ in range(max(1, args.repeat)):
            times, result, payload = analyse(clip, analyzer)
            runs.append(times)
            lip = payload.get("lip")
            lip_frames = 0 if lip is None else len(lip["energy"])
            decodes.append(decode_only(clip, n_frames, None if lip is None else lip["start"],
                                       lip_frames))
        full = decode_everything(clip)
        v = payload["video"]
        minutes = v["duration"] / 60.0
        stages = {k: statistics.median(r[k] for r in runs) for k in runs[0] if any(r[k] for r in runs)}
        total = sum(stages.values())
        dec = statistics.median(decodes)
        print(f"\n{clip.name}: {v['width']}x{v['height']} {v['codec']}, {v['duration']:.1f} s, {v['totalFrames']} frames, "
              f"{v['keyframes']} key frames; analysed {len(payload['samples'])} snippets, "
              f"{payload['summary']['faces']} face crops, decoded {payload['decode']['decodedFrames']} frames; "
              f"verdict {result.verdict} (p {result.fake_probability:.3f})")
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
