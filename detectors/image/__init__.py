"""Image deepfake detection: faces, forensic features, the project's trained model and the
transformers path. Importing the package registers ``image-default``, ``image-clip`` (v2) and ``image-hf``."""

from detectors.image import clip_detector, detector, hf  # noqa: F401  (registers the detectors)
