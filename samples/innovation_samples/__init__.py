"""Deterministic sample submissions for every program, with a manifest of the defects they carry.

``generate(out_dir, seed=2024)`` writes ``out_dir/inbox/<source>/...`` and ``out_dir/manifest.json``.
``python -m innovation_samples.directory`` rebuilds the synthetic part of the reference
district directory in ``programs/reference/``.
"""

from innovation_samples.generator import generate

__all__ = ["generate"]
