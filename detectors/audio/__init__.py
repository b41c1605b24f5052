"""Audio deepfake detection: ``audio-default`` (the project's own model) and ``audio-hf``
(a transformers ``AutoModelForAudioClassification`` checkpoint). Importing registers both."""

from detectors.audio import detector, hf  # noqa: F401  (registration side effects)
