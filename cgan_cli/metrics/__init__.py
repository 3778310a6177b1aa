"""Evaluation metrics: one module per metric, plus the Inception feature extractor they share."""
