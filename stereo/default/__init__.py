"""The shipped default model (``model.pt``), its training log and metrics; see tools/recipe_default_model.py."""
