"""Video deepfake detection: frames sampled over the whole clip, face tracks, temporal and lip-sync
cues, the sound track, calibrated fusion. Importing the package registers ``video-default``."""

from detectors.video import detector, v2_detector  # noqa: F401  (register video-default and video-v2)
