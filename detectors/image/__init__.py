"""Image deepfake detection: faces, forensic features, the project's trained model and the
transformers path. Importing the package registers ``image-default`` and ``image-hf``."""

from detectors.image import detector, hf  # noqa: F401  (registers the detectors)
