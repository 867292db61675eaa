"""innovation_pipeline: state K-12 innovation program submissions, from district files to cross-state marts."""

__version__ = "0.1.0"
