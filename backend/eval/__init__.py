"""Evaluation: metrics, the encoder report, the N x N protocol."""
