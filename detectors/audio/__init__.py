"""Audio deepfake detection: ``audio-default`` (v1: LCNN-LFCC), ``audio-whisper`` (v2: heads over
Whisper base encoder layers) and ``audio-hf`` (a transformers ``AutoModelForAudioClassification``
checkpoint). Importing registers them."""

from detectors.audio import detector, hf, whisper_detector  # noqa: F401  (registration side effects)
