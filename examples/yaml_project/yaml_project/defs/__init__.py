"""Component folders, each holding a defs.yaml; dagster loads them all."""
