"""Figures and summaries that the pipeline writes into reports/ and metrics/."""
