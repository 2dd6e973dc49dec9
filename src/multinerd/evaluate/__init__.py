"""Scoring, the report and its plots, the model card."""
