"""Fine-tune transformer encoders for named-entity recognition on MultiNERD and score them honestly."""

__version__ = "0.1.0"
