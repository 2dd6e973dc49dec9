"""Encoders, features, training, model directories, backends, the tagger, export."""
