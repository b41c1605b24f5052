"""One recipe per modality: prepare → named-model calls → sub-analyses → fuse → evidence.

``detectors.pipeline.Analyzer`` runs a recipe in one process with ``LocalModels``; the Serve graph
runs the very same recipe in its ``Analysis`` deployment with each named-model call sent to that
model's deployment (``deployments/models.py``). Nothing here imports ray.
"""

from detectors.recipes.base import Recipe, recipe_for
from detectors.recipes.models import LocalModels, ModelClient, ModelName

__all__ = ["LocalModels", "ModelClient", "ModelName", "Recipe", "recipe_for"]
