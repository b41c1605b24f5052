"""The evaluation harness (``deepfake-eval``): metrics, source-level splits, datasets, reports.

Import submodules directly (``from detectors.evaluation.metrics import summarize``); this package
imports nothing heavy so trainers can use the metrics without pulling in plotting.
"""
