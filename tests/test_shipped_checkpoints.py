"""The checkpoints shipped in wsss_lib/checkpoints/: exactly the networks the tutorial profile
reads, each under the key its profile builds today, still scoring what it recorded on ``val``,
within the 30 MB budget. A change to a config, the generator or the training code makes the
first test fail: regenerate with ``make report-full && make checkpoints``."""

from __future__ import annotations

import pytest

from wsss_lib.studies.shipped_networks import tutorial_networks
from wsss_lib.train import cache_key, get_or_train
from wsss_lib.train.shipped import list_shipped, shipped_dir, val_scores

SHIPPED = {c.name: c for c in list_shipped()}
NETWORKS = tutorial_networks("tutorial")
BUDGET_BYTES = 30 * 1000 * 1000


def test_the_shipped_files_are_exactly_the_tutorials_networks_under_todays_keys() -> None:
    assert sorted(SHIPPED) == sorted(NETWORKS), (
        "wsss_lib/checkpoints/ no longer matches the networks the tutorial profile reads; "
        "regenerate them: make report-full && make checkpoints"
    )
    for name, config in NETWORKS.items():
        assert SHIPPED[name].key == cache_key(config), (
            f"{name}: the shipped key differs from the key the tutorial profile builds today "
            "(config, generator or training-code version changed); make checkpoints"
        )


def test_the_shipped_files_fit_the_budget_and_record_their_origin() -> None:
    total = sum(p.stat().st_size for p in shipped_dir().glob("*.safetensors"))
    assert 0 < total <= BUDGET_BYTES, f"{total / 1e6:.1f} MB shipped"
    for shipped in SHIPPED.values():
        assert len(shipped.commit) == 40 and shipped.history
        assert len(shipped.history) == shipped.key["config"]["epochs"]
        assert set(shipped.metrics) & {"val_acc", "val_smoke_iou"}
        if shipped.teacher_file:
            assert shipped.teacher_file[: -len(".safetensors")] in SHIPPED


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_shipped_network_loads_and_scores_what_it_recorded(name, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("WSSS_RETRAIN", raising=False)
    run = get_or_train(NETWORKS[name], cache_dir=tmp_path, progress=False, device="cpu")
    assert run.run_dir.name == name and (run.run_dir / "origin.json").is_file()
    scores = val_scores(run)
    for metric, recorded in SHIPPED[name].metrics.items():
        # one val image of 256 either way: float kernels differ a little between CPUs
        assert scores[metric] == pytest.approx(recorded, abs=1.5 / 256), metric
    if "val_acc" in scores:
        assert scores["val_acc"] > 0.75, "a shipped classifier must have learned"
