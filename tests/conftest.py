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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a whole test module of many tiny tensor ops: on a shared, loaded
    CPU two OpenMP threads waiting for each other made them 3-10x slower than the work itself.
    Module scope, so module-scoped fixtures (reference runs compared bit for bit) use the same
    thread count as the tests. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def resnet():
    """An untrained ResNet-18 smoke classifier in eval mode (seeded)."""
    import torch

    from wsss_lib.models import build_classifier

    torch.manual_seed(0)
    return build_classifier("resnet18").eval()


@pytest.fixture(scope="module")
def vit():
    """An untrained ViT-Tiny/8 smoke classifier for 32 px inputs, in eval mode (seeded)."""
    import torch

    from wsss_lib.models import build_classifier

    torch.manual_seed(0)
    return build_classifier("vit_tiny", patch_size=8, img_size=32).eval()
