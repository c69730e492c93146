"""Long runs survive kills and full disks, and the same seed gives the same numbers.

- Determinism: training twice with one seed gives identical weights, history and metrics (CPU).
- A training process killed with SIGKILL mid-epoch resumes from its last completed epoch and
  ends with the weights of an uninterrupted run; so does one whose checkpoint write hit a full
  disk.
- A report killed with SIGKILL mid-notebook skips the notebooks it finished when run again;
  a report whose summary write hits a full disk leaves the previous summary intact.

Killed processes are real subprocesses; the tiny timm test networks keep the training short.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
import torch

from wsss_lib.data import load_split
from wsss_lib.report import run_report
from wsss_lib.train import (
    DataSpec,
    ModelSpec,
    TrainConfig,
    TrainedRun,
    evaluate_model,
    load_checkpoint,
    train_classifier,
)
from wsss_lib.utils import atomic_write_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = TrainConfig(
    paradigm="single",
    model=ModelSpec("test_resnet", {"output_stride": 8}),
    data=DataSpec(image_size=32, n_train=16, n_val=8),
    epochs=2,
    batch_size=8,
    augment=True,
)
#: Seconds a killed-subprocess test waits for its child to reach the point where it is killed
#: (the child imports torch first, which is slow on a loaded machine).
CHILD_DEADLINE_S = 240


def assert_same_run(a: TrainedRun, b: TrainedRun) -> None:
    """Bit-identical weights and identical per-epoch metrics (timings excluded)."""
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name

    def metrics(run: TrainedRun) -> list[dict]:
        return [{k: v for k, v in r.items() if "second" not in k} for r in run.history]

    assert metrics(a) == metrics(b)
    assert [r["epoch"] for r in a.history] == list(range(1, CONFIG.epochs + 1))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The uninterrupted run every interrupted one must reproduce."""
    return train_classifier(CONFIG, tmp_path_factory.mktemp("reference"), progress=False)


class HalfWriter:
    """A file handle that writes half of the first chunk it gets, then reports a full disk."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self) -> HalfWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.handle.close()


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every atomic write of ``wsss_lib`` fail half-way through its data."""
    real_fdopen = os.fdopen

    def fdopen(*args, **kwargs) -> HalfWriter:
        return HalfWriter(real_fdopen(*args, **kwargs))

    monkeypatch.setattr("wsss_lib.utils.os.fdopen", fdopen)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


def wait_for(path: Path, process: subprocess.Popen) -> str:
    """Wait until the child writes ``path`` (returns its text); fail if the child exits first."""
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while not path.exists():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"child exited with {process.returncode} before {path.name}:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"child did not reach {path.name} within {CHILD_DEADLINE_S} s")
        time.sleep(0.2)
    time.sleep(0.2)  # let the child finish writing the file
    return path.read_text()


# ------------------------------------------------------------------------------- training


def test_same_seed_gives_the_same_weights_and_metrics_on_cpu(reference: TrainedRun) -> None:
    again = train_classifier(CONFIG, None, progress=False)
    assert_same_run(reference, again)
    test = load_split("test", image_size=32, n_images=8)
    first, second = evaluate_model(reference, test), evaluate_model(again, test)
    assert first.metrics == second.metrics
    assert first.metrics["n_images"] == 8


def test_disk_full_at_a_checkpoint_keeps_the_last_one_and_resumes(
    reference: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_fills_after_epoch_1(epoch: int, _record: dict) -> None:
        if epoch == 1:
            fill_disk(monkeypatch)

    with pytest.raises(OSError, match="No space left"):
        train_classifier(CONFIG, tmp_path, progress=False, callbacks=[disk_fills_after_epoch_1])
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1  # intact, loadable
    assert [r["epoch"] for r in json.loads((tmp_path / "history.json").read_text())] == [1]
    assert temp_files(tmp_path) == []

    resumed = train_classifier(CONFIG, tmp_path, progress=False)
    assert_same_run(reference, resumed)


TRAIN_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    import torch

    from wsss_lib.train import TrainConfig, train_classifier
    from wsss_lib.train.paradigms import SingleNetwork

    config = TrainConfig.from_dict(json.loads(sys.argv[1]))
    run_dir, marker = Path(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(int(sys.argv[4]))
    finished = []
    original_step = SingleNetwork.step

    def step(self, batch):
        if finished and self.modules["model"].training:  # first training step of epoch 2
            marker.write_text(str(os.getpid()))
            time.sleep(600)  # killed here
        return original_step(self, batch)

    SingleNetwork.step = step
    train_classifier(config, run_dir, progress=False,
                     callbacks=[lambda epoch, record: finished.append(epoch)])
    """
)


def test_training_killed_mid_epoch_resumes_from_its_last_completed_epoch(
    reference: TrainedRun, tmp_path: Path
) -> None:
    run_dir, marker = tmp_path / "run", tmp_path / "in_epoch_2"
    child = subprocess.Popen(
        [sys.executable, "-c", TRAIN_CHILD, json.dumps(CONFIG.to_dict()), str(run_dir),
         str(marker), str(torch.get_num_threads())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    try:
        wait_for(marker, child)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1
    assert temp_files(run_dir) == []

    resumed = train_classifier(CONFIG, run_dir, progress=False)
    assert_same_run(reference, resumed)


# --------------------------------------------------------------------------------- report


def write_notebook(folder: Path, name: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "quick"\noutput_dir = "."\n')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, folder / name)


@pytest.fixture(scope="module")
def killed_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A report killed with SIGKILL while its second notebook runs (the first had finished)."""
    root = tmp_path_factory.mktemp("killed_report")
    notebooks, out = root / "notebooks", root / "report"
    notebooks.mkdir()
    block, started = root / "block", root / "started"
    block.touch()
    write_notebook(notebooks, "01_fast.ipynb", textwrap.dedent("""
        import json
        from pathlib import Path
        Path(output_dir, "metrics.json").write_text(json.dumps({"answer": 42}))
    """))
    write_notebook(notebooks, "02_slow.ipynb", textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        Path(r"{started}").write_text(str(os.getpid()))
        deadline = time.time() + 300
        while Path(r"{block}").exists() and time.time() < deadline:
            time.sleep(0.1)
    """))
    report = subprocess.Popen(
        [sys.executable, "-m", "wsss_lib.report", "--notebooks", str(notebooks), "--out",
         str(out), "--profile", "quick"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    try:
        kernel_pid = int(wait_for(started, report))
        os.kill(report.pid, signal.SIGKILL)
        report.wait(timeout=30)
    finally:
        if report.poll() is None:
            report.kill()
    # The kernel runs in its own session and outlives the killed report: end it too.
    os.kill(kernel_pid, signal.SIGKILL)
    state = {stem: (out / stem / ".wsss-report-state.json").is_file()
             for stem in ("01_fast", "02_slow")}
    block.unlink()
    return {"notebooks": notebooks, "out": out, "state_after_kill": state}


def test_report_rerun_after_a_kill_skips_the_finished_notebooks(killed_report: dict) -> None:
    assert killed_report["state_after_kill"] == {"01_fast": True, "02_slow": False}
    lines: list[str] = []
    summary = run_report(killed_report["notebooks"], out_dir=killed_report["out"],
                         echo=lines.append)
    statuses = {r.name: r.status for r in summary.results}
    assert statuses == {"01_fast": "skipped", "02_slow": "ok"}
    assert summary.results[0].metrics == {"answer": 42}  # the finished work was kept
    data = json.loads(summary.summary_json.read_text())
    assert data["counts"] == {"ok": 1, "failed": 0, "skipped": 1}


def test_report_write_on_a_full_disk_keeps_the_previous_summary(
    killed_report: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = killed_report["out"]
    run_report(killed_report["notebooks"], out_dir=out, echo=None)  # all up to date now
    before = {name: (out / name).read_bytes() for name in ("summary.json", "index.html")}
    fill_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        run_report(killed_report["notebooks"], out_dir=out, echo=None)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert temp_files(out) == []


def test_atomic_write_on_a_full_disk_leaves_no_half_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"version": "old"})
    fill_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(target, {"version": "new", "payload": "x" * 10_000})
    assert json.loads(target.read_text()) == {"version": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
