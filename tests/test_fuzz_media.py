"""Malformed media never crash or wedge a replica: the bounded CI part of the fuzz campaign.

Every input runs in a worker process (``benchmarks.fuzz_stats.FuzzWorker``) through the real intake
path: sniff, decode, and each registered detector's ``preprocess`` (the stand-ins, and the real
``image-default`` / ``audio-default`` / ``video-default`` when registered). Anything but a
``DetectionError`` is a crash; no answer within the timeout is a hang; a dead worker is a crash.
The full campaign with statistics: ``python -m benchmarks.fuzz_stats``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_stats import (
    CORPUS,
    OPS,
    FuzzWorker,
    Mutation,
    inputs_for,
    load_corpus,
    mutate,
)
from detectors.media import SUPPORTED_FORMATS

ROOT = Path(__file__).resolve().parent.parent
PER_FORMAT = int(os.environ.get("FUZZ_PER_FORMAT", "3"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
CORPUS_FILES = load_corpus()
SEEDS = [c for c in CORPUS_FILES if c.expect == "ok"]
BLOBS = {c.name: c.path.read_bytes() for c in CORPUS_FILES}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def worker():
    with FuzzWorker(timeout=30, real=True) as w:
        yield w


def describe(outcome) -> str:
    return f"{outcome.status} {outcome.code} after {outcome.stages}\n{outcome.detail}"


def test_corpus_covers_every_supported_format_and_stays_small():
    ext_to_format = {"ppm": "pnm"}
    seeded = {ext_to_format.get(c.fmt, c.fmt) for c in SEEDS}
    supported = {f for formats in SUPPORTED_FORMATS.values() for f in formats}
    assert supported <= seeded, f"no seed for {sorted(supported - seeded)}"
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_worker_fuzzes_the_standins_and_reports_the_real_detectors(worker):
    fuzzed = {n for names in worker.info["detectors"].values() for n in names}
    assert {"image-standin", "audio-standin", "video-standin"} <= fuzzed
    for name in ("image-default", "audio-default", "video-default"):
        assert name in fuzzed or name in worker.info["unavailable"]


@pytest.mark.parametrize("item", SEEDS, ids=lambda c: c.name)
def test_seed_files_decode(worker, item):
    outcome = worker.run(BLOBS[item.name])
    assert outcome.status == "ok", describe(outcome)


@pytest.mark.parametrize("item", [c for c in CORPUS_FILES if c.expect == "rejected"], ids=lambda c: c.name)
def test_decompression_bombs_are_refused_from_the_header(worker, item):
    outcome = worker.run(BLOBS[item.name])
    assert (outcome.status, outcome.code) == ("rejected", "media_too_large"), describe(outcome)
    assert outcome.seconds < 5


@pytest.mark.parametrize("item", [c for c in CORPUS_FILES if c.expect == "any"], ids=lambda c: c.name)
def test_regressions_do_not_crash(worker, item):
    outcome = worker.run(BLOBS[item.name])
    assert not outcome.is_crash, describe(outcome)


def test_bounded_mutation_sweep(worker):
    """``PER_FORMAT`` seeded mutants of every format (truncation, bit flips, extreme integers in
    headers, deletions, duplications, splices and appended/overlaid second files)."""
    crashes = []
    tried = 0
    for fmt, recipe, data in inputs_for([c for c in CORPUS_FILES if c.expect != "any"], PER_FORMAT, seed=1234):
        if recipe.startswith("corpus "):
            continue  # the corpus itself is replayed above
        tried += 1
        outcome = worker.run(data)
        if outcome.is_crash:
            crashes.append(f"{fmt}: {recipe}\n{describe(outcome)}")
    assert tried >= PER_FORMAT * len({c.fmt for c in CORPUS_FILES})
    assert not crashes, "\n\n".join(crashes)


mutations = st.builds(
    Mutation,
    op=st.sampled_from(OPS),
    a=st.floats(0, 1, allow_nan=False),
    b=st.floats(0, 1, allow_nan=False),
    payload=st.binary(min_size=1, max_size=16),
)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(base=st.sampled_from(sorted(c.name for c in SEEDS)), other=st.sampled_from(sorted(BLOBS)),
       ops=st.lists(mutations, min_size=1, max_size=3))
def test_hypothesis_mutants_never_crash(worker, base, other, ops):
    outcome = worker.run(mutate(BLOBS[base], ops, BLOBS[other]))
    assert not outcome.is_crash, describe(outcome)


def test_service_code_never_installs_a_pyav_log_callback():
    """With PyAV's Python log callback installed, freeing a frame-threaded decoder can deadlock on the
    GIL (regressions/mkv-416b9a5959de): one malformed video would wedge a replica for good."""
    offenders = []
    for folder in ("detectors", "deployments"):
        for path in (ROOT / folder).rglob("*.py"):
            if re.search(r"av\.logging\.set_level\(|av\.logging\.restore_default_callback", path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
