"""The streaming, mergeable stats engine (pure pyarrow + numpy)."""
