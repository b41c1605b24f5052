"""Image detector throughput on the CPU: images/s and p50 ms per ~1 MP image, with each stage's share.

    python benchmarks/bench_image.py [--n 20] [--threads 1] [--detector image-clip] [--streams clip,effnet,forensic]

Images: real photos from ../shared/data (up-scaled to about 1 MP, so faces are present) when the
folder exists, else generated pictures of the same size. Stages are timed inside the real
``preprocess`` (decode, faces, forensics, crops), ``infer`` and ``postprocess`` calls. With
``--streams``, each image v2 feature stream is timed on its own too (its ``features(path)``: decode,
faces, every view through the backbone), one thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("decode", "faces", "forensics", "crops", "infer", "postprocess")


def make_images(n: int, out: Path, pixels: int = 1_000_000) -> list[Path]:
    """n JPEG files of about ``pixels`` pixels each."""
    import cv2
    from PIL import Image

    data = ROOT.parent / "shared" / "data" / "train" / "image" / "real"
    sources = sorted(data.glob("celebahq_*.jpg"))[:n] + sorted(data.glob("maskds_*.jpg"))[:n] if data.exists() else []
    paths = []
    for i in range(n):
        if sources:
            rgb = np.asarray(Image.open(sources[i % len(sources)]).convert("RGB"))
        else:
            from tests.media_factory import synthetic_face_image

            rgb = synthetic_face_image(512, 384, seed=i)
        h, w = rgb.shape[:2]
        s = (pixels / (h * w)) ** 0.5
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
        p = out / f"bench_{i:03d}.jpg"
        Image.fromarray(rgb).save(p, quality=92)
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--detector", default="image-clip")
    ap.add_argument("--streams", default="", help="image v2 streams to time on their own (clip,effnet,forensic,mnv2)")
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)

    from detectors.base import create
    from detectors.media import make_media_ref
    from detectors.settings import Settings

    det = create(args.detector, settings=Settings(torch_threads=args.threads))
    t = time.perf_counter()
    det.load()
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(args.n + args.warmup, Path(tmp))
        rows = []
        pixels = []
        faces = []
        for i, path in enumerate(paths):
            ref = make_media_ref(path, "image")
            c0 = time.process_time()
            t0 = time.perf_counter()
            prepared = det.preprocess(ref)
            t1 = time.perf_counter()
            scores = det.infer(prepared.model_inputs)
            t2 = time.perf_counter()
            result = det.postprocess(prepared, scores)
            t3 = time.perf_counter()
            c3 = time.process_time()
            if i < args.warmup:
                continue
            stage = {k: prepared.timings.get(k, 0.0) for k in ("decode", "faces", "forensics", "crops")}
            stage.update(infer=t2 - t1, postprocess=t3 - t2, total=t3 - t0, cpu=c3 - c0)
            rows.append(stage)
            pixels.append((result.width or 0) * (result.height or 0))
            faces.append(len(result.faces or []))
    total = np.array([r["total"] for r in rows])
    mean_total = total.mean()
    print(f"detector {args.detector}; {len(rows)} images of {np.mean(pixels) / 1e6:.2f} MP (mean), "
          f"{np.mean(faces):.1f} faces each; torch threads {args.threads}; load {load_s:.2f} s")
    import os

    cpu = np.array([r["cpu"] for r in rows])
    print(f"throughput: {1.0 / mean_total:.2f} images/s; p50 {np.median(total) * 1000:.0f} ms per image "
          f"(p90 {np.percentile(total, 90) * 1000:.0f} ms); CPU time p50 {np.median(cpu) * 1000:.0f} ms per image")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
          "(wall times grow with other processes' load; CPU time much less)")
    print()
    print(f"| {'stage':<12} | {'p50 ms':>8} | {'mean ms':>8} | {'share':>6} |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    for k in STAGES:
        v = np.array([r[k] for r in rows])
        print(f"| {k:<12} | {np.median(v) * 1000:8.1f} | {v.mean() * 1000:8.1f} | {100 * v.mean() / mean_total:5.1f}% |")
    print(f"| {'total':<12} | {np.median(total) * 1000:8.1f} | {mean_total * 1000:8.1f} | {100.0:5.1f}% |")
    if args.streams:
        bench_streams(args.streams.split(","), args.n, args.warmup, args.threads)
    return 0


def bench_streams(names: list[str], n: int, warmup: int, threads: int) -> None:
    """p50 of each stream's ``features(path)`` per ~1 MP image, and of its backbone per view."""
    import torch

    from detectors.image.streams import FaceCache, stream_factory
    from detectors.image.v2_train import STREAM_OPTIONS

    torch.set_num_threads(threads)
    print()
    print(f"| {'stream (views)':<34} | {'p50 ms / image':>14} | {'backbone p50 ms / view':>22} |")
    print(f"|{'-' * 36}|{'-' * 16}|{'-' * 24}|")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(n + warmup, Path(tmp))
        for name in names:
            stream = stream_factory(name)(**STREAM_OPTIONS.get(name, {}), face_cache=FaceCache(None))
            stream.load()
            times, per_view = [], []
            for i, p in enumerate(paths):
                stream.timings.clear()
                t = time.perf_counter()
                f = stream.features(p)
                if i >= warmup:
                    times.append(time.perf_counter() - t)
                    for k, v in stream.timings.items():
                        if k.startswith("backbone x"):
                            per_view.append(v[0] / int(k.split("x")[1]))
            nviews = f"whole + {', '.join(stream.crops) or 'no crops'} + faces"
            bb = f"{np.median(per_view) * 1000:22.1f}" if per_view else f"{'–':>22}"
            print(f"| {stream.name + ' (' + nviews + ')':<34} | {np.median(times) * 1000:14.1f} | {bb} |")
            del f


if __name__ == "__main__":
    raise SystemExit(main())
