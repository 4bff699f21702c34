"""Training on synthetic data: losses, loops, checkpoints."""
