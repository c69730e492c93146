"""Shared pytest setup: an isolated cache folder, few threads, no network, headless matplotlib."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch_home_unused"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point the model/dataset cache at a per-session temporary folder."""
    if "WSSS_CACHE" not in os.environ or os.environ.get("WSSS_TEST_KEEP_CACHE") != "1":
        os.environ["WSSS_CACHE"] = str(tmp_path_factory.mktemp("wsss_cache"))
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
