"""Each report kernel's CPU threads when several notebooks run at once."""

from __future__ import annotations

import os

import pytest

from wsss_lib.report.runner import kernel_thread_env


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)


def test_parallel_kernels_split_the_cores(two_cores):
    assert kernel_thread_env(2) == {"OMP_NUM_THREADS": "1"}
    assert kernel_thread_env(4) == {"OMP_NUM_THREADS": "1"}  # never below one thread


def test_one_kernel_keeps_every_core(two_cores):
    assert kernel_thread_env(1) == {}


def test_a_users_thread_setting_is_kept(two_cores, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert kernel_thread_env(2) == {}


def test_report_kernels_are_not_interrupted_on_their_way_out():
    """jupyter_client interrupts a kernel before shutting it down, and an idle ipykernel logs
    "ERROR | KeyboardInterrupt caught in kernel." on the report's terminal: the report's kernel
    manager skips that interrupt while shutting down, and only then."""
    import asyncio

    from wsss_lib.report.execute import KernelGroup

    manager = KernelGroup().manager_class()
    manager.shutting_down = True
    assert asyncio.run(manager._async_interrupt_kernel()) is None  # nothing sent, no error
    manager.shutting_down = False
    with pytest.raises(RuntimeError, match="No kernel is running"):  # a real interrupt is sent
        asyncio.run(manager._async_interrupt_kernel())
