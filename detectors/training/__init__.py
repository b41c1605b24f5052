"""Training commands: ``deepfake-train image|audio ...`` (each modality's own ``train`` module)."""
