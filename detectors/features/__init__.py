"""Frozen feature extractors' outputs, cached on disk so training never extracts twice."""
