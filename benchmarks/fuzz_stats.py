"""Fuzz the media decoders and the detectors' ``preprocess`` with truncated, mutated and polyglot files.

Run (bounded in count and time; prints inputs tried per format and the crash count):

    python -m benchmarks.fuzz_stats --per-format 60 --time-budget 600

Every input goes through what the service does with an untrusted file: ``make_media_ref`` (sniff),
then by its sniffed type ``load_image`` / ``load_audio`` / the video indexer and frame reader, then
each registered detector's ``preprocess`` for that modality (the stand-ins always; ``image-default``,
``audio-default``, ``video-default`` when they are registered and load). A ``DetectionError`` is a
clean refusal. A crash is any other exception, a hang (no answer within ``--timeout`` seconds) or
the death of the worker process; each one is saved under ``reports/fuzz_crashes/`` with its
traceback so it can be replayed and then committed to ``tests/fuzz_corpus/regressions/``.

The inputs run in a separate worker process, so a segfault or a hang is observed, not suffered.
The same harness runs a bounded part of the campaign in CI (``tests/test_fuzz_media.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"
REGRESSIONS = CORPUS / "regressions"
CRASH_DIR = ROOT / "reports" / "fuzz_crashes"

# Settings inside the worker: tight limits keep each input's work small (they are part of the defence).
WORKER_ENV = {
    "DETECTOR_PLUGINS": '["tests.standin_detectors"]',
    "MAX_IMAGE_PIXELS": "16000000",
    "MAX_AUDIO_SECONDS": "120",
    "MAX_VIDEO_SECONDS": "120",
    "MAX_VIDEO_FRAMES": "8",
    "TORCH_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "ENVIRONMENT": "test",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}
STANDIN_DETECTORS = {"image": ["image-standin"], "audio": ["audio-standin"], "video": ["video-standin"]}
PROBES = {"image": CORPUS / "seed-image.png", "audio": CORPUS / "seed-audio.wav", "video": CORPUS / "seed-video.mp4"}
REAL_DETECTORS = {"image": ["image-default"], "audio": ["audio-default"], "video": ["video-default"]}

# ------------------------------------------------------------------------------------------------
# Mutations: each is (name, a, b, payload) with a, b in [0, 1] as relative positions, so the same
# description applies to any file and Hypothesis can shrink it.
# ------------------------------------------------------------------------------------------------

OPS = ("truncate", "truncate_head", "bitflip", "overwrite", "int_extreme", "fill", "delete", "insert",
       "duplicate", "splice", "append_other", "magic_swap")
EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _pos(data: bytes, a: float, head_bias: bool = True) -> int:
    """A position in ``data``; with ``head_bias`` 3/4 of the range maps into the first 1 kB (headers)."""
    n = len(data)
    if n == 0:
        return 0
    if head_bias and a < 0.75:
        return min(n - 1, int(a / 0.75 * min(n, 1024)))
    return min(n - 1, int(a * n))


def apply_op(data: bytes, op: str, a: float, b: float, payload: bytes, other: bytes) -> bytes:
    """One mutation of ``data`` (``other`` is a second corpus file, for polyglots and splices)."""
    n = len(data)
    if n == 0:
        return payload
    if op == "truncate":
        return data[: _pos(data, a)]
    if op == "truncate_head":  # only a header survives: 0..64 bytes
        return data[: int(a * min(n, 64))]
    if op == "bitflip":
        out = bytearray(data)
        for i, byte in enumerate(payload[:8] or b"\x01"):
            p = _pos(data, (a + i * 0.618 * b) % 1.0)
            out[p] ^= 1 << (byte % 8)
        return bytes(out)
    if op == "overwrite":
        p = _pos(data, a)
        return data[:p] + payload + data[p + len(payload):]
    if op == "int_extreme":
        p = _pos(data, a)
        value = EXTREMES[int(b * len(EXTREMES)) % len(EXTREMES)]
        width, order = (2, ">") if payload[:1] in (b"\x00", b"\x01") else (4, "<" if len(payload) % 2 else ">")
        packed = struct.pack(order + ("H" if width == 2 else "I"), value & (0xFFFF if width == 2 else 0xFFFFFFFF))
        return data[:p] + packed + data[p + width:]
    if op == "fill":
        p, q = sorted((_pos(data, a), _pos(data, b, head_bias=False)))
        byte = payload[:1] or b"\x00"
        return data[:p] + byte * (q - p) + data[q:]
    if op == "delete":
        p, q = sorted((_pos(data, a), _pos(data, b, head_bias=False)))
        return data[:p] + data[q:]
    if op == "insert":
        p = _pos(data, a)
        return data[:p] + payload * (1 + int(b * 64)) + data[p:]
    if op == "duplicate":
        p, q = sorted((_pos(data, a), _pos(data, b, head_bias=False)))
        piece = data[p:q][:65536]
        return data[:q] + piece + data[q:]
    if op == "splice":  # head of this format, tail of another: polyglot-ish container
        return data[: _pos(data, a)] + other[_pos(other, b, head_bias=False):]
    if op == "append_other":  # a whole second file appended (JPEG+ZIP style polyglot)
        return data + other
    if op == "magic_swap":  # another format's magic bytes over this file's start
        k = 4 + int(a * 28)
        return other[:k] + data[k:]
    raise ValueError(f"unknown mutation {op!r}")


@dataclass(frozen=True)
class Mutation:
    op: str
    a: float
    b: float
    payload: bytes


def mutate(data: bytes, ops: list[Mutation], other: bytes) -> bytes:
    for m in ops:
        data = apply_op(data, m.op, m.a, m.b, m.payload, other)
    return data


def random_mutations(rng: random.Random) -> list[Mutation]:
    return [
        Mutation(rng.choice(OPS), rng.random(), rng.random(), rng.randbytes(rng.randint(1, 16)))
        for _ in range(rng.choice((1, 1, 1, 2, 3)))
    ]


# ------------------------------------------------------------------------------------------------
# Corpus: seeds of every supported format (tests/fuzz_corpus/seed-*.<ext>), crafted inputs that must
# be refused (reject-*), and reproducers of fixed crashes (regressions/).
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    fmt: str  # the format it was made as (file extension)
    expect: str  # "ok" | "rejected" | "any"

    @property
    def name(self) -> str:
        return self.path.name


def load_corpus(directory: Path = CORPUS) -> list[CorpusFile]:
    files = []
    for p in sorted(directory.glob("*")):
        if p.is_file() and p.name.startswith(("seed-", "reject-")):
            files.append(CorpusFile(p, p.suffix.lstrip(".").lower(), "ok" if p.name.startswith("seed-") else "rejected"))
    for p in sorted((directory / "regressions").glob("*")) if (directory / "regressions").exists() else []:
        if p.is_file() and not p.name.endswith(".txt"):
            files.append(CorpusFile(p, p.name.split("-", 1)[0], "any"))
    return files


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A valid-looking PNG header declaring width x height pixels, with a tiny compressed body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + 3 * width) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def gif_bomb() -> bytes:
    """A GIF whose logical screen and one frame are 65535 x 65535 pixels."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    return header + image + b";"


def make_seed_corpus(directory: Path = CORPUS) -> list[Path]:
    """(Re)create the seed files: tiny media of every supported format, plus crafted refusals."""
    from PIL import Image

    from tests import media_factory as mf

    directory.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for ext in ("jpeg", "png", "gif", "bmp", "tiff"):
        out.append(mf.write_image(directory / f"seed-image.{ext}", size=(48, 40), seed=3))
    arr = mf.synthetic_face_image(48, 40, seed=3)
    Image.fromarray(arr).save(directory / "seed-image.ppm", format="PPM")
    Image.fromarray(arr).save(directory / "seed-image.webp", format="WEBP", quality=60)
    out += [directory / "seed-image.ppm", directory / "seed-image.webp"]
    for ext in ("mp4", "mov", "avi", "mkv", "webm", "flv"):
        out.append(mf.write_video(directory / f"seed-video.{ext}", seconds=0.6, fps=10, size=(64, 48)))
    for ext in ("wav", "mp3", "flac", "aac", "ogg", "m4a"):
        seconds = 0.4 if ext == "wav" else 0.6
        out.append(mf.write_audio(directory / f"seed-audio.{ext}", seconds=seconds, sample_rate=None))
    (directory / "reject-bomb.png").write_bytes(png_bomb())
    (directory / "reject-bomb.gif").write_bytes(gif_bomb())
    out += [directory / "reject-bomb.png", directory / "reject-bomb.gif"]
    return out


# ------------------------------------------------------------------------------------------------
# The worker process: runs the real decode path on each input and reports what happened.
# ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # "ok" | "rejected" | "crash" | "hang" | "died"
    code: str = ""  # the DetectionError code, or the exception type
    detail: str = ""
    seconds: float = 0.0
    media_type: str = ""
    stages: list[str] = field(default_factory=list)

    @property
    def is_crash(self) -> bool:
        return self.status in ("crash", "hang", "died")


def _video_decode(path: str, settings) -> None:
    """The real video intake path: index, plan, and read a few snippets (bounded)."""
    from detectors.video.frames import SnippetReader, plan_samples, probe_video

    index = probe_video(path, settings.max_video_seconds, settings.max_video_frames)
    samples = plan_samples(index, min(4, settings.max_video_frames))
    with SnippetReader(index) as reader:
        for s in samples[:4]:
            reader.read(s.time, 2)


def _worker(conn, detector_names: dict[str, list[str]], hang_dump: str, hang_after: float) -> None:
    import faulthandler
    import warnings

    os.environ.update(WORKER_ENV)
    warnings.simplefilter("ignore")  # damaged media makes decoders chatty; outcomes are reported instead
    dump = open(hang_dump, "w")  # noqa: SIM115 (open for the worker's life: faulthandler writes here)
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-worker-"))
    os.environ["UPLOAD_FOLDER"] = str(scratch / "upload")
    os.environ["LOG_DIR"] = str(scratch / "logs")
    import importlib
    import logging

    logging.disable(logging.WARNING)
    # PyAV's log level stays at its default (None: no Python log callback). With a callback installed,
    # freeing a frame-threaded decoder deadlocks when one of its threads logs (it waits for the GIL
    # that the freeing thread holds): one malformed video wedges the process. The fuzzer found that.
    from detectors import base
    from detectors.errors import DetectionError
    from detectors.media import load_audio, load_image, make_media_ref
    from detectors.settings import get_settings

    settings = get_settings()
    importlib.import_module("tests.standin_detectors")
    detectors: dict[str, list] = defaultdict(list)
    unavailable: dict[str, str] = {}
    notes: dict[str, str] = {}
    registered = set(base.available())
    for modality, names in detector_names.items():
        for name in names:
            if name not in registered:
                unavailable[name] = "not registered"
                continue
            try:
                det = base.create(name, settings=settings)
            except Exception as exc:  # reported to the parent: a detector that cannot be made is skipped
                unavailable[name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            try:
                det.load()
            except Exception as exc:
                # Often only the trained weights are missing, which preprocess does not use: fuzz its
                # preprocess anyway when it handles this modality's seed file.
                why = f"{type(exc).__name__}: {exc}"[:200]
                try:
                    det.preprocess(make_media_ref(PROBES[modality]))
                except Exception:
                    unavailable[name] = f"load failed ({why}); preprocess does not work without it"
                    continue
                notes[name] = f"preprocess only, load failed: {why}"
            detectors[modality].append(det)
    conn.send({"ready": True, "detectors": {m: [d.name for d in ds] for m, ds in detectors.items()},
               "unavailable": unavailable, "notes": notes})
    path = scratch / "input"
    while True:
        msg = conn.recv()
        if msg is None:
            break
        path.write_bytes(msg)
        dump.seek(0)
        dump.truncate()
        faulthandler.dump_traceback_later(hang_after, file=dump)  # where a hang is stuck, for its report
        start = time.perf_counter()
        stages: list[str] = []
        outcome = Outcome("ok")
        try:
            stages.append("sniff")
            ref = make_media_ref(path)
            outcome.media_type = ref.media_type
            if ref.media_type == "image":
                stages.append("load_image")
                load_image(path, settings.max_image_pixels)
            elif ref.media_type == "audio":
                stages.append("load_audio")
                load_audio(path, settings.max_audio_seconds)
            else:
                stages.append("video_decode")
                _video_decode(str(path), settings)
                stages.append("load_audio")
                load_audio(path, settings.max_video_seconds)
            for det in detectors.get(ref.media_type, []):
                stages.append(f"{det.name}.preprocess")
                det.preprocess(ref)
        except DetectionError as exc:
            outcome = Outcome("rejected", exc.code, exc.message[:300], media_type=outcome.media_type)
        except Exception as exc:
            outcome = Outcome("crash", type(exc).__name__, "".join(traceback.format_exception(exc))[-4000:],
                              media_type=outcome.media_type)
        faulthandler.cancel_dump_traceback_later()
        outcome.seconds = time.perf_counter() - start
        outcome.stages = stages
        conn.send(asdict(outcome))


class FuzzWorker:
    """A worker process fed one input at a time; restarted after a hang or a death."""

    def __init__(self, timeout: float = 30.0, real: bool = True, start_timeout: float = 300.0) -> None:
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.names = {m: STANDIN_DETECTORS[m] + (REAL_DETECTORS[m] if real else []) for m in STANDIN_DETECTORS}
        self.ctx = mp.get_context("spawn")
        self.proc = None
        self.conn = None
        self.info: dict = {}
        self.restarts = 0
        self.hang_dump = Path(tempfile.mkstemp(prefix="fuzz-hang-", suffix=".txt")[1])

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        args = (child, self.names, str(self.hang_dump), max(1.0, self.timeout - 1.0))
        self.proc = self.ctx.Process(target=_worker, args=args, daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        try:
            if not parent.poll(self.start_timeout):
                raise EOFError
            self.info = parent.recv()
        except (EOFError, OSError) as exc:
            self.stop()
            raise RuntimeError("the fuzz worker did not start (see its stderr above)") from exc

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(5)
            except (BrokenPipeError, OSError):
                pass  # already gone: killed below if it lingers
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        self.proc = None

    def __enter__(self) -> FuzzWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.hang_dump.unlink(missing_ok=True)

    def run(self, data: bytes) -> Outcome:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        start = time.perf_counter()
        try:
            self.conn.send(data)
            if self.conn.poll(self.timeout):
                return Outcome(**self.conn.recv())
            status, code = "hang", f"no answer in {self.timeout:.0f} s"
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            status, code = "died", "worker process died"
        exitcode = None
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(5)
            exitcode = self.proc.exitcode
        self.proc = None
        self.restarts += 1
        stacks = self.hang_dump.read_text(errors="replace")[-6000:] if self.hang_dump.exists() else ""
        return Outcome(status, code, f"exit code {exitcode}\n{stacks}", seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------
# Campaign and statistics
# ------------------------------------------------------------------------------------------------


@dataclass
class FormatStats:
    inputs: int = 0
    ok: int = 0
    rejected: int = 0
    crashes: int = 0
    max_seconds: float = 0.0
    codes: Counter = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.inputs += 1
        self.max_seconds = max(self.max_seconds, outcome.seconds)
        if outcome.is_crash:
            self.crashes += 1
        elif outcome.status == "rejected":
            self.rejected += 1
            self.codes[outcome.code] += 1
        else:
            self.ok += 1


def save_crash(data: bytes, fmt: str, outcome: Outcome, recipe: str, crash_dir: Path = CRASH_DIR) -> Path:
    crash_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = crash_dir / f"{fmt}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(f"{recipe}\n{outcome.status} {outcome.code} stages={outcome.stages}\n"
                                        f"{outcome.detail}\n")
    return path


def inputs_for(corpus: list[CorpusFile], per_format: int, seed: int) -> Iterator[tuple[str, str, bytes]]:
    """(format, recipe, bytes): every corpus file as is, then ``per_format`` mutants of each format's
    files, interleaved across formats so a time budget cuts every format evenly."""
    rng = random.Random(seed)
    by_fmt: dict[str, list[CorpusFile]] = defaultdict(list)
    blobs = {c.path: c.path.read_bytes() for c in corpus}
    for c in corpus:
        by_fmt[c.fmt].append(c)
        yield c.fmt, f"corpus {c.name}", blobs[c.path]
    everything = list(blobs.values())
    for i in range(per_format):
        for fmt, files in sorted(by_fmt.items()):
            base = files[i % len(files)]
            other = rng.choice(everything)
            muts = random_mutations(rng)
            recipe = f"{base.name} + " + ", ".join(f"{m.op}({m.a:.3f},{m.b:.3f},{m.payload.hex()})" for m in muts)
            yield fmt, recipe, mutate(blobs[base.path], muts, other)


def run_campaign(per_format: int = 20, seed: int = 0, timeout: float = 30.0, time_budget: float = 600.0,
                 real: bool = True, crash_dir: Path = CRASH_DIR, corpus_dir: Path = CORPUS) -> dict:
    corpus = load_corpus(corpus_dir)
    stats: dict[str, FormatStats] = defaultdict(FormatStats)
    crashes: list[dict] = []
    start = time.monotonic()
    cut_short = False
    with FuzzWorker(timeout=timeout, real=real) as worker:
        info = worker.info
        for fmt, recipe, data in inputs_for(corpus, per_format, seed):
            if time.monotonic() - start > time_budget:
                cut_short = True
                break
            outcome = worker.run(data)
            stats[fmt].add(outcome)
            if outcome.is_crash:
                path = save_crash(data, fmt, outcome, recipe, crash_dir)
                crashes.append({"format": fmt, "recipe": recipe, "status": outcome.status, "code": outcome.code,
                                "stages": outcome.stages, "saved": str(path)})
        restarts = worker.restarts
    return {
        "seed": seed, "per_format": per_format, "seconds": round(time.monotonic() - start, 1),
        "cut_short_by_time_budget": cut_short, "detectors": info.get("detectors", {}),
        "unavailable": info.get("unavailable", {}), "notes": info.get("notes", {}), "worker_restarts": restarts,
        "formats": {f: {**asdict(s), "codes": dict(s.codes)} for f, s in sorted(stats.items())},
        "inputs": sum(s.inputs for s in stats.values()), "crashes": len(crashes), "crash_list": crashes,
    }


def print_report(report: dict) -> None:
    print(f"fuzz: seed {report['seed']}, {report['per_format']} mutants per format file set, "
          f"{report['seconds']} s{' (cut short by the time budget)' if report['cut_short_by_time_budget'] else ''}")
    print("detectors' preprocess fuzzed: " + ", ".join(n for ns in report["detectors"].values() for n in ns))
    for name, note in report.get("notes", {}).items():
        print(f"  {name}: {note}")
    for name, why in report["unavailable"].items():
        print(f"  not fuzzed: {name} ({why})")
    print(f"{'format':8} {'inputs':>7} {'ok':>6} {'refused':>8} {'crashes':>8} {'max s':>7}  refusals by code")
    for fmt, s in report["formats"].items():
        codes = ", ".join(f"{k} {v}" for k, v in sorted(s["codes"].items(), key=lambda kv: -kv[1]))
        print(f"{fmt:8} {s['inputs']:>7} {s['ok']:>6} {s['rejected']:>8} {s['crashes']:>8} {s['max_seconds']:>7.2f}  {codes}")
    print(f"{'total':8} {report['inputs']:>7}")
    for c in report["crash_list"]:
        print(f"CRASH {c['format']}: {c['status']} {c['code']} in {c['stages'][-1:] or ['?']} <- {c['recipe']}"
              f"  [{c['saved']}]")
    print(f"crashes: {report['crashes']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-format", type=int, default=60, help="mutants per format (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--time-budget", type=float, default=600.0, help="stop after this many seconds")
    parser.add_argument("--standin-only", action="store_true", help="skip the real detectors' preprocess")
    parser.add_argument("--json", type=Path, help="also write the full report here")
    parser.add_argument("--make-corpus", action="store_true", help="regenerate the seed files and exit")
    args = parser.parse_args(argv)
    if args.make_corpus:
        for p in make_seed_corpus():
            print(f"{p.relative_to(ROOT)}  {p.stat().st_size} bytes")
        return 0
    report = run_campaign(args.per_format, args.seed, args.timeout, args.time_budget, real=not args.standin_only)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if report["crashes"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
