"""``deepfake-batch INPUT... --output OUT``: analyse a whole collection with Ray Data.

Inputs are folders (searched recursively for media files), globs, files, http(s) URLs, or
``@list.txt`` files naming one path or URL per line. Each file becomes one row in OUT (JSON lines
or Parquet shards): its source, ``ok``, the error code and message when it failed, and the
result's fields (``mediaType``, ``verdict``, ``isDeepfake``, ``fakeProbability``, ``confidence``
... and the whole result JSON in ``result``).

The work runs as ``map_batches`` over a pool of actors, each holding one
``detectors.pipeline.Analyzer`` (the detectors the service uses), with a fractional CPU each so
it fits a laptop beside a running service. It starts a local Ray unless ``RAY_ADDRESS`` (set by
``ray job submit``) or ``--address`` names a cluster; the same command then runs there unchanged.

Rows reach OUT in shards written atomically (temp file + rename) every ``--shard-rows`` rows or
``--flush-seconds``; a run that is killed keeps every finished shard, and the next run skips the
sources already in OUT (``--retry-errors`` runs failed ones again). A corrupt or unsupported
file is an error row, never a failed job.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectors.schema import MediaType

MEDIA_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm",
    ".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v",
    ".wav", ".mp3", ".flac", ".aac", ".ogg", ".opus", ".m4a",
})
FORMATS = ("jsonl", "parquet")
SUMMARY_FILE = "_summary.json"
STEADY_MIN_ROWS = 20  # a "files/s after start-up" figure needs at least this many rows after the first
MAX_TASK_RETRIES = 2  # a batch whose worker crashed is retried this often on a restarted actor
# The result's scalar fields copied into their own columns (the usage guide's names).
RESULT_COLUMNS = ("mediaType", "verdict", "isDeepfake", "fakeProbability", "confidence", "threshold",
                  "verdictReason", "modelUsed", "processingTime", "timestamp")
# The verdict policy's operating points the verdict was taken at (from the result's operatingPoints).
POINT_COLUMNS = ("realBelow", "fakeAbove")
# The detectors each media type needs (a video's frames go through the image detector).
NEEDS = {"image": ("image",), "audio": ("audio",), "video": ("video", "image")}
ROW_COLUMNS = ("source", "ok", "error", "message", "format", "sizeBytes", *RESULT_COLUMNS, *POINT_COLUMNS, "worker",
               "result")


def row_schema() -> Any:
    """The fixed Arrow schema of a result row (every shard has it, whatever the modality)."""
    import pyarrow as pa

    types = {"ok": pa.bool_(), "isDeepfake": pa.bool_(), "sizeBytes": pa.int64(), "fakeProbability": pa.float64(),
             "confidence": pa.float64(), "threshold": pa.float64(), "processingTime": pa.float64(),
             "realBelow": pa.float64(), "fakeAbove": pa.float64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in ROW_COLUMNS])


# -- inputs ------------------------------------------------------------------------------------


class InputError(ValueError):
    """A command-line input that names nothing (a missing path, an empty glob, an unreadable list)."""


def is_remote(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _normalise(source: str) -> str:
    return source if is_remote(source) else str(Path(source).expanduser().absolute())


def _media_files(folder: Path, all_files: bool) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if all_files or Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                found.append(str(Path(dirpath, name).absolute()))
    return found


def expand_inputs(inputs: Iterable[str], all_files: bool = False) -> list[str]:
    """The sources named by the command line, in order, without duplicates.

    A folder yields its media files (by extension unless ``all_files``), a glob its files, ``@FILE``
    the paths/URLs listed in FILE (one a line, ``#`` comments; a listed path that does not exist
    becomes an error row, not a refusal), a URL itself.
    """
    out: dict[str, None] = {}
    for text in inputs:
        if text.startswith("@"):
            try:
                lines = Path(text[1:]).expanduser().read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise InputError(f"cannot read the list {text[1:]}: {exc}") from exc
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                path = Path(line).expanduser()
                found = _media_files(path, all_files) if not is_remote(line) and path.is_dir() else [line]
                out.update(dict.fromkeys(_normalise(s) for s in found))
        elif is_remote(text):
            out[text] = None
        elif Path(text).expanduser().is_dir():
            out.update(dict.fromkeys(_media_files(Path(text).expanduser(), all_files)))
        elif Path(text).expanduser().is_file():
            out[_normalise(text)] = None
        elif glob.has_magic(text):
            matches = sorted(p for p in glob.glob(os.path.expanduser(text), recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"no file matches {text}")
            out.update(dict.fromkeys(_normalise(p) for p in matches))
        else:
            raise InputError(f"no such file, folder or URL: {text}")
    return list(out)


# -- output ------------------------------------------------------------------------------------


def shard_files(out: Path) -> list[Path]:
    """Finished shards in OUT (temp files and ``_``/``.`` files are not shards)."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if p.is_file() and p.suffix in (".jsonl", ".parquet")
                  and not p.name.startswith(("_", ".")))


def read_rows_of(path: Path) -> list[dict]:
    """The rows of one shard; ``result`` as a dict."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:
        if isinstance(row.get("result"), str):
            row["result"] = json.loads(row["result"])
    return rows


def read_rows(out: str | Path) -> list[dict]:
    """Every row in OUT's shards (JSON lines and Parquet alike); ``result`` as a dict."""
    return [row for path in shard_files(Path(out)) for row in read_rows_of(path)]


def _write_shard(path: Path, fmt: str, rows: list[dict]) -> None:
    """Write rows (``result`` as a JSON string) to ``path`` and fsync it."""
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(_jsonl_row(row)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows, schema=row_schema()), path)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ShardWriter:
    """Buffers rows and writes them to OUT as shards, each atomically (temp file, fsync, rename)."""

    def __init__(self, out: Path, fmt: str, shard_rows: int = 100, flush_seconds: float = 10.0,
                 critical: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.critical = critical
        self.out, self.fmt = out, fmt
        self.shard_rows, self.flush_seconds = shard_rows, flush_seconds
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.buffer: list[dict] = []
        self.seq = 0
        self.written = 0
        self.last_flush = time.monotonic()
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".tmp-*"):  # a shard that a killed run never finished
            stale.unlink(missing_ok=True)

    def add(self, rows: list[dict]) -> None:
        self.buffer.extend(rows)
        if len(self.buffer) >= self.shard_rows or time.monotonic() - self.last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        with self.critical():
            name = f"part-{self.run_id}-{self.seq:05d}.{self.fmt}"
            tmp = self.out / f".tmp-{name}"
            _write_shard(tmp, self.fmt, self.buffer)
            os.replace(tmp, self.out / name)
            self.seq += 1
            self.written += len(self.buffer)
            self.buffer = []


def _jsonl_row(row: dict) -> dict:
    result = row.get("result")
    return {k: v for k, v in {**row, "result": json.loads(result) if isinstance(result, str) else result}.items()
            if v is not None}


# -- the per-file work (one instance per Ray actor) ---------------------------------------------


class FileAnalyzer:
    """The callable class ``map_batches`` runs: one ``Analyzer`` per actor, loaded once."""

    def __init__(self, settings_update: dict | None = None, media_type: str | None = None) -> None:
        from detectors.logs import get_logger
        from detectors.pipeline import Analyzer
        from detectors.settings import get_settings

        self.log = get_logger("batch")
        self.settings = get_settings().model_copy(update=settings_update or {})
        import torch

        torch.set_num_threads(self.settings.torch_threads)  # Ray sets OMP_NUM_THREADS=1 in workers
        self.media_type = media_type
        self.analyzer = Analyzer(self.settings)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.unavailable: dict[str, str] = {}
        modalities: tuple[MediaType, ...] = ("image", "audio", "video")
        for modality in modalities:
            try:
                self.analyzer.detector(modality)
            except Exception as exc:  # reported on each file that needs it, as its error row
                self.unavailable[modality] = f"{type(exc).__name__}: {exc}"
                self.log.warning("the %s detector did not load: %s", modality, exc)

    def _check_ready(self, media_type: str) -> None:
        from detectors.errors import ModelNotReadyError

        for modality in NEEDS[media_type]:
            if modality in self.unavailable:
                raise ModelNotReadyError(f"the {modality} detector did not load: {self.unavailable[modality]}")

    def analyze_one(self, source: str) -> dict:
        """One file (or URL) → one row; every failure becomes the row's error, never an exception."""
        from detectors.errors import DetectionError
        from detectors.intake import Scratch, open_source, parse_media_type

        row: dict = dict.fromkeys(ROW_COLUMNS)
        row.update(source=source, ok=False, worker=self.worker)
        scratch = Scratch(self.settings, prefix="batch-")  # made only for a download
        try:
            ref = open_source(source, parse_media_type(self.media_type), self.settings, scratch)
            row.update(mediaType=ref.media_type, format=ref.format, sizeBytes=ref.size_bytes)
            self._check_ready(ref.media_type)
            result = self.analyzer.analyze_ref(ref)
            result.source = source
            body = result.to_json_dict()
            row.update({k: body.get(k) for k in RESULT_COLUMNS}, ok=True, result=json.dumps(body))
            row.update({k: (body.get("operatingPoints") or {}).get(k) for k in POINT_COLUMNS})
        except DetectionError as exc:
            row.update(error=exc.code, message=exc.message)
        except Exception as exc:  # a detector bug on one odd file must not stop the collection
            self.log.exception("analysis of %s failed", source)
            row.update(error="internal_error", message=f"{type(exc).__name__}: {exc}")
        finally:
            scratch.remove()
        return row

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        rows = [self.analyze_one(s) for s in batch.column("source").to_pylist()]
        return pa.Table.from_pylist(rows, schema=row_schema())


# -- executors ---------------------------------------------------------------------------------


@dataclass
class RunConfig:
    workers: int | None = None
    cpus_per_worker: float = 0.5
    batch_size: int = 4
    address: str | None = None
    num_cpus: float | None = None
    media_type: str | None = None
    settings_update: dict = field(default_factory=dict)


def run_local(sources: list[str], config: RunConfig) -> Iterator[list[dict]]:
    """In this process, one file after another (no Ray): for debugging and small sets."""
    worker = FileAnalyzer(config.settings_update, config.media_type)
    for source in sources:
        yield [worker.analyze_one(source)]


def start_ray(config: RunConfig) -> dict:
    """Connect to the cluster (``--address`` / ``RAY_ADDRESS``) or start a local Ray; its CPUs."""
    import ray

    address = config.address or os.environ.get("RAY_ADDRESS") or "local"
    kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": True,
                              "configure_logging": True, "logging_level": "WARNING"}
    if address == "local" and config.num_cpus is not None:
        kwargs["num_cpus"] = config.num_cpus
    t = time.monotonic()
    if not ray.is_initialized():
        where = "a local Ray" if address == "local" else f"the Ray cluster at {address}"
        auth = os.environ.get("RAY_AUTH_MODE", "token")
        say(f"starting {where} (token authentication: {auth}; RAY_AUTH_MODE chooses) ...")
        ray.init(**kwargs)
        import logging

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-run INFO lines add nothing here
    cluster = {"address": address, "cpus": float(ray.cluster_resources().get("CPU", 0)),
               "nodes": sum(1 for n in ray.nodes() if n.get("Alive"))}
    say(f"Ray ready in {time.monotonic() - t:.1f} s: {cluster['cpus']:g} CPUs on {cluster['nodes']} node(s)")
    return cluster


def choose_auth_mode() -> None:
    """Ray 2.60 turns token authentication on for a new local cluster and warns about it on every
    run unless ``RAY_AUTH_MODE`` is set: we set what it would do anyway (token), before ray is
    imported (it reads the mode at import). A user's own choice is kept."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")


def say(message: str) -> None:
    """What the command is doing or waiting for, on stderr (results go to OUT and stdout)."""
    print(f"deepfake-batch: {message}", file=sys.stderr, flush=True)


def configured(settings: Any) -> list[str]:
    """The detector names this run uses, by modality."""
    from detectors.pipeline import detector_name

    return [detector_name(settings, m) for m in ("image", "audio", "video")]


def pool_size(config: RunConfig, cluster_cpus: float, n_sources: int) -> int:
    """Actors to start: ``--workers``, else one per cluster CPU; never more than there are batches."""
    wanted = config.workers or max(1, int(cluster_cpus))
    return max(1, min(wanted, -(-n_sources // config.batch_size)))


def run_ray(sources: list[str], config: RunConfig, cluster: dict) -> Iterator[list[dict]]:
    """``map_batches`` over an actor pool; rows come back to the driver as blocks finish."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours counts files; Ray's per-operator bars would interleave
    ctx.max_errored_blocks = -1  # a crashed worker's block is reported missing, the rest goes on
    workers = pool_size(config, cluster["cpus"], len(sources))
    blocks = max(1, -(-len(sources) // config.batch_size))
    ds = ray.data.from_items([{"source": s} for s in sources], override_num_blocks=blocks)
    with warnings.catch_warnings():
        # Ray 2.60 warns that extra remote args will be named parameters in 2.64; there is no named
        # one for this yet. Without it a file that crashes its worker would be retried forever.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        ds = ds.map_batches(
            FileAnalyzer,
            fn_constructor_kwargs={"settings_update": config.settings_update, "media_type": config.media_type},
            batch_size=config.batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=config.cpus_per_worker,
            max_task_retries=MAX_TASK_RETRIES,
        )
    for table in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
        yield table.to_pylist()


# -- progress and summary ----------------------------------------------------------------------


class Progress:
    """A tqdm bar on a terminal; otherwise (``ray job logs``, CI) a line every ``every_s`` seconds."""

    def __init__(self, total: int, enabled: bool = True, every_s: float = 10.0) -> None:
        self.total, self.done, self.every_s = total, 0, every_s
        self.start = self.last = time.monotonic()
        self.bar = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", dynamic_ncols=True)

    def update(self, n: int, errors: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(errors=errors, refresh=False)
        elif self.enabled and (time.monotonic() - self.last >= self.every_s or self.done == self.total):
            self.last = time.monotonic()
            rate = self.done / max(1e-9, self.last - self.start)
            print(f"deepfake-batch: {self.done}/{self.total} files ({errors} errors), {rate:.2f} files/s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary_table(rows: list[dict]) -> str:
    """Counts per modality and verdict, and errors by code."""
    verdicts = ("fake", "real", "inconclusive")
    table: dict[str, Counter] = {}
    errors: Counter = Counter()
    for row in rows:
        modality = row.get("mediaType") or "unknown"
        column = row.get("verdict") if row.get("ok") else "error"
        table.setdefault(modality, Counter())[column] += 1
        if not row.get("ok"):
            errors[row.get("error") or "error"] += 1
    head = f"{'modality':<10}" + "".join(f"{c:>14}" for c in (*verdicts, "error", "total"))
    lines = [head, "-" * len(head)]
    total: Counter = Counter()
    for modality in sorted(table, key=lambda m: (m == "unknown", m)):
        counts = table[modality]
        total.update(counts)
        lines.append(f"{modality:<10}" + "".join(f"{counts[c]:>14}" for c in (*verdicts, "error"))
                     + f"{sum(counts.values()):>14}")
    lines.append(f"{'total':<10}" + "".join(f"{total[c]:>14}" for c in (*verdicts, "error")) + f"{sum(total.values()):>14}")
    if errors:
        lines.append("errors: " + ", ".join(f"{code} {n}" for code, n in errors.most_common()))
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-batch",
        description="Analyse a folder, glob or list of media files/URLs with Ray Data; one result row per file.",
        epilog="Resumable: sources already in OUT are skipped. On a cluster: "
               "ray job submit --working-dir . -- deepfake-batch /data/media --output /data/out",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="folder, glob, file, http(s) URL, or @LIST (a file with one path or URL per line)")
    p.add_argument("--output", "-o", required=True, help="output folder of result shards (created if needed)")
    p.add_argument("--format", choices=FORMATS, help="jsonl or parquet (default: what OUT holds, else jsonl)")
    p.add_argument("--media-type", choices=["image", "video", "audio"], help="expect this type (default: sniff)")
    p.add_argument("--all-files", action="store_true", help="take every file in folders, not only media extensions")
    p.add_argument("--retry-errors", action="store_true", help="analyse again the sources whose row is an error")
    p.add_argument("--executor", choices=["ray", "local"], default="ray",
                   help="ray (default) or local: in this process, no Ray (debugging, tiny sets)")
    p.add_argument("--address", help="Ray cluster to use (default: RAY_ADDRESS, else start a local Ray)")
    p.add_argument("--num-cpus", type=float, help="CPUs of the local Ray it starts (default: all)")
    p.add_argument("--workers", type=int, help="analysis actors (default: one per CPU of the cluster)")
    p.add_argument("--cpus-per-worker", type=float, default=0.5, help="CPUs reserved per actor (default 0.5)")
    p.add_argument("--batch-size", type=int, default=4, help="files per map_batches call (default 4)")
    p.add_argument("--shard-rows", type=int, default=100, help="rows per output shard (default 100)")
    p.add_argument("--flush-seconds", type=float, default=10.0, help="write a shard at least this often (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    return p


def _output_format(out: Path, requested: str | None) -> str:
    if requested:
        return requested
    existing = {p.suffix.lstrip(".") for p in shard_files(out)}
    return existing.pop() if len(existing) == 1 else "jsonl"


def _drop_error_rows(out: Path, sources: set[str]) -> None:
    """For ``--retry-errors``: rewrite each shard holding an error row about to be redone without it.

    Each shard is replaced atomically (temp file + rename), so an interruption leaves every row
    either in place or gone, never twice."""
    for path in shard_files(out):
        rows = read_rows_of(path)
        keep = [r for r in rows if r.get("ok") or r.get("source") not in sources]
        if len(keep) == len(rows):
            continue
        tmp = path.with_name(f".tmp-{path.name}")
        _write_shard(tmp, path.suffix.lstrip("."), [{**r, "result": _as_json(r.get("result"))} for r in keep])
        os.replace(tmp, path)


def _as_json(result: Any) -> str | None:
    return json.dumps(result) if isinstance(result, dict) else result


class Interrupts:
    """Ctrl-C and SIGTERM (``ray job stop``, ``kill``) raise ``KeyboardInterrupt`` so the rows in
    memory are written before exiting, but never in the middle of writing a shard: there the
    interrupt waits until the shard is in place (no row lost, none written twice)."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        """Install the handlers (again after ``ray.init``, which sets its own SIGTERM handler)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous = signal.signal(sig, self._handler)
                self._previous.setdefault(sig, previous)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.deferring:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.executor == "ray" and not (args.address or os.environ.get("RAY_ADDRESS")):
        choose_auth_mode()
    out = Path(args.output).expanduser().absolute()
    if args.batch_size < 1 or args.shard_rows < 1 or args.cpus_per_worker <= 0:
        print("deepfake-batch: --batch-size, --shard-rows and --cpus-per-worker must be positive", file=sys.stderr)
        return 2
    try:
        sources = expand_inputs(args.inputs, args.all_files)
    except InputError as exc:
        print(f"deepfake-batch: {exc}", file=sys.stderr)
        return 2
    from detectors.logs import setup_logging
    from detectors.settings import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:
        print(f"deepfake-batch: bad configuration: {exc}", file=sys.stderr)
        return 2
    setup_logging("WARNING", settings.log_dir)
    fmt = _output_format(out, args.format)
    existing = read_rows(out)
    done = {r["source"] for r in existing if r.get("ok") or not args.retry_errors}
    if args.retry_errors:
        retry = {r["source"] for r in existing if not r.get("ok")} - done
        if retry:
            _drop_error_rows(out, retry)
    pending = [s for s in sources if s not in done]
    print(f"deepfake-batch: {len(sources)} sources, {len(sources) - len(pending)} already in {out}, "
          f"{len(pending)} to analyse", file=sys.stderr)

    config = RunConfig(
        workers=args.workers, cpus_per_worker=args.cpus_per_worker, batch_size=args.batch_size,
        address=args.address, num_cpus=args.num_cpus, media_type=args.media_type,
        # Like deepfake-detect: the user running the batch may read their own files.
        settings_update={"allow_local_paths": True, "local_path_roots": []},
    )
    interrupts = Interrupts()
    writer = ShardWriter(out, fmt, args.shard_rows, args.flush_seconds, critical=interrupts.deferred)
    run_rows: list[dict] = []
    cluster: dict = {"address": "in-process", "cpus": 1.0, "nodes": 1}
    interrupts.__enter__()
    status, started = 0, time.monotonic()
    progress = None
    first: tuple[float, int] | None = None  # (seconds to the first rows, how many): workers' start-up
    try:
        if pending:
            if args.executor == "ray":
                cluster = start_ray(config)
                interrupts.__enter__()
            started = time.monotonic()
            if args.executor == "ray":
                say(f"starting {pool_size(config, cluster['cpus'], len(pending))} analysis worker(s); each loads "
                       f"the detectors ({', '.join(configured(settings))}) before its first file ...")
            else:
                say(f"loading the detectors ({', '.join(configured(settings))}) in this process ...")
            progress = Progress(len(pending), enabled=not args.no_progress)
            batches = run_ray(pending, config, cluster) if args.executor == "ray" else run_local(pending, config)
            for rows in batches:
                if first is None:
                    first = (time.monotonic() - started, len(rows))
                    say(f"first results after {first[0]:.1f} s (worker start and model load)")
                writer.add(rows)
                run_rows.extend(rows)
                progress.update(len(rows), sum(1 for r in run_rows if not r["ok"]))
    except KeyboardInterrupt:
        print("\ndeepfake-batch: interrupted; finished rows are kept, run the same command to go on",
              file=sys.stderr)
        status = 130
    finally:
        try:
            writer.flush()
        except KeyboardInterrupt:  # a second signal while the last rows are written: they are in place
            status = 130
        interrupts.__exit__()
        if progress is not None:
            progress.close()
    wall = time.monotonic() - started
    missing = len(pending) - len(run_rows) if status == 0 else 0
    if missing:
        print(f"deepfake-batch: {missing} files got no row (a worker crashed on them); run again to retry",
              file=sys.stderr)
        status = 1
    stats = {
        "sources": len(sources), "skipped": len(sources) - len(pending), "analysed": len(run_rows),
        "errors": sum(1 for r in run_rows if not r["ok"]), "missing": missing, "wall_s": round(wall, 3),
        "files_per_s": round(len(run_rows) / wall, 3) if run_rows and wall > 0 else None,
        "first_rows_s": round(first[0], 3) if first else None,
        # After the first rows came back (actors up, models loaded): the rate a long run settles at.
        "steady_files_per_s": (round((len(run_rows) - first[1]) / (wall - first[0]), 3)
                               if first and len(run_rows) - first[1] >= STEADY_MIN_ROWS and wall - first[0] >= 1.0
                               else None),
        "executor": args.executor, "cluster": cluster, "cpus_per_worker": args.cpus_per_worker,
        "workers": pool_size(config, cluster["cpus"], len(pending)) if args.executor == "ray" and pending else 1,
        "batch_size": args.batch_size, "format": fmt, "status": status,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(stats, indent=2))
    print(summary_table(read_rows(out)))
    if run_rows:
        where = ("in this process, one file at a time" if args.executor == "local" else
                 f"{stats['workers']} workers x {args.cpus_per_worker} CPU on {cluster['cpus']:g} CPUs, "
                 f"{cluster['nodes']} node(s), Ray at {cluster['address']}")
        steady = f", {stats['steady_files_per_s']:.2f} files/s after start-up" if stats["steady_files_per_s"] else ""
        print(f"this run: {len(run_rows)} files in {wall:.1f} s = {stats['files_per_s']:.2f} files/s{steady} "
              f"({where}); {stats['skipped']} skipped as already done")
    else:
        print(f"this run: nothing to do; {stats['skipped']} sources already in {out}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
