"""Shared fixtures: seeded torch and numpy for every test; one local Ray cluster for the Ray tests."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for all Ray tests (2 CPUs, no dashboard), shut down at the end."""
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.WARNING)  # fmt: skip
    yield ray
    ray.shutdown()
