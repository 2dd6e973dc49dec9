"""Data in: sources, file shapes, tag schemes, checks, audit, the sample generator."""
