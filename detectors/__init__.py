"""Deepfake detectors: a plain library (numpy, torch, transformers, opencv, librosa).

Nothing here imports ray, fastapi or socketio: every detector can be used from a notebook,
the CLI, the evaluation harness or a Ray Serve deployment alike.
"""

__version__ = "0.1.0"
