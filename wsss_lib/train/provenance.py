"""Where each network a process used came from: trained here, loaded from the cache, or shipped.

:func:`~wsss_lib.train.cache.get_or_train` records every run it hands out with
:func:`record_network`; a notebook's ``metrics.json`` (:class:`wsss_lib.results.MetricsDocument`)
lists them with :func:`served_networks`, so every report says, per network, whether it was trained
in this run or loaded from a file the kit ships. One kernel runs one notebook, so the record of a
process is the record of a notebook. This module imports nothing of ``wsss_lib``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ORIGINS", "clear_served_networks", "record_network", "served_networks"]

#: ``trained``: trained (or finished) in this process; ``cache``: loaded from a cache entry this
#: machine trained earlier; ``shipped``: loaded from a checkpoint shipped with the kit.
ORIGINS = ("trained", "cache", "shipped")

_SERVED: dict[str, dict[str, Any]] = {}


def record_network(
    run: str,
    *,
    paradigm: str,
    model: str,
    origin: str,
    val_acc: float | None = None,
    shipped_commit: str | None = None,
) -> None:
    """Note that this process used the run folder named ``run``. A run trained by this process
    stays ``trained`` when it is loaded again later (from the cache it was just written to);
    otherwise the last record of a run wins.

    Raises:
        ValueError: for an ``origin`` outside :data:`ORIGINS`.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}; got {origin!r}.")
    if origin == "cache" and _SERVED.get(run, {}).get("origin") == "trained":
        return
    _SERVED[run] = {
        "run": run,
        "paradigm": paradigm,
        "model": model,
        "origin": origin,
        "shipped_commit": shipped_commit,
        "val_acc": None if val_acc is None else float(val_acc),
    }


def served_networks() -> list[dict[str, Any]]:
    """The runs this process used, in the order first used (copies)."""
    return [dict(record) for record in _SERVED.values()]


def clear_served_networks() -> None:
    """Forget the record (tests; a process that runs several notebooks)."""
    _SERVED.clear()
