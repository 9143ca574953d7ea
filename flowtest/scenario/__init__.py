"""Scenario files: the model and the loader that validates and builds it."""
