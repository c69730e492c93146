"""The one ``metrics.json`` schema: every notebook writes a :class:`MetricsDocument`.

The report (``wsss_lib.report``: its index table and notes) and ``scripts/collect_results.py``
(the README's results tables) read these files, so every key below has one meaning in every
notebook:

- ``notebook`` (str): the notebook's stem, e.g. ``"02_teacher_student"``;
- ``profile`` (str): the profile it ran with;
- ``results`` (dict): row name -> ``{metric: value}``; fractions are written in % (2 decimals),
  ``<metric>_std`` is the spread over seeds in points, NaN is written as null;
- ``paper`` (dict): row name -> the paper's numbers (``wsss_lib.paper``), ``{}`` when none;
- ``claims`` (list): the paper's claims tested here, each ``{"claim", "verdict", "mean", "low",
  "high", "n"}`` (differences in points; a claim may lack the interval keys); a claim decided by
  several paired comparisons (``results.claims.best_claim``) lists them under ``"parts"``, each
  with the same keys; ``[]`` when none;
- ``notes`` (list of str): setup, units and the computed findings, in reading order;
- ``settings`` (dict): the training settings the numbers depend on, ``{}`` when not recorded;
- ``networks`` (list): every trained network the notebook used, each ``{"run", "paradigm",
  "model", "origin", "shipped_commit", "val_acc"}`` with ``origin`` one of ``"trained"`` (in this
  run), ``"cache"`` (trained earlier on this machine) or ``"shipped"`` (a checkpoint shipped with
  the kit, :mod:`wsss_lib.train.shipped`); by default what
  :func:`wsss_lib.train.provenance.served_networks` recorded in this process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsss_lib.train.provenance import served_networks
from wsss_lib.utils import atomic_write_json

__all__ = ["CLAIM_KEYS", "DOCUMENT_KEYS", "MetricsDocument"]

#: The entries of a claim that ``metrics.json`` keeps (sentences and per-pair values are dropped),
#: also for each of its ``"parts"``.
CLAIM_KEYS: tuple[str, ...] = ("claim", "verdict", "mean", "low", "high", "n", "id", "regime",
                               "metric")
#: The top-level keys of every ``metrics.json``.
DOCUMENT_KEYS: tuple[str, ...] = (
    "notebook", "profile", "results", "paper", "claims", "notes", "settings", "networks",
)


@dataclass
class MetricsDocument:
    """One notebook's ``metrics.json`` (see the module docstring for the meaning of each key).

    ``claims`` may hold the full dicts of :func:`wsss_lib.results.claims.paired_claim` and
    friends; :meth:`to_json` keeps only :data:`CLAIM_KEYS` of each.
    """

    notebook: str
    profile: str
    results: Mapping[str, Any]
    paper: Mapping[Any, Any] = field(default_factory=dict)
    claims: Sequence[Mapping[str, Any]] = ()
    notes: Sequence[str] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    networks: Sequence[Mapping[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON-ready dict with every key of :data:`DOCUMENT_KEYS`."""
        return {
            "notebook": str(self.notebook),
            "profile": str(self.profile),
            "results": dict(self.results),
            "paper": dict(self.paper),
            "claims": [_claim_json(claim) for claim in self.claims],
            "notes": [str(note) for note in self.notes],
            "settings": dict(self.settings),
            "networks": [dict(n) for n in (
                served_networks() if self.networks is None else self.networks)],
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the document atomically (NaN becomes null, keys sorted); returns the path."""
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricsDocument:
        """A document from a parsed ``metrics.json``; missing keys take their empty defaults.

        Raises:
            ValueError: when ``data`` is not a mapping or ``results`` is not one.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"metrics.json must hold a JSON object; got {type(data).__name__}.")
        results = data.get("results", {})
        if not isinstance(results, Mapping):
            raise ValueError("metrics.json's 'results' must map row names to metrics.")
        return cls(
            notebook=str(data.get("notebook", "")),
            profile=str(data.get("profile", "")),
            results=dict(results),
            paper=dict(data.get("paper") or {}),
            claims=list(data.get("claims") or []),
            notes=list(data.get("notes") or []),
            settings=dict(data.get("settings") or {}),
            networks=list(data.get("networks") or []),
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> MetricsDocument:
        """Read a ``metrics.json`` file (see :meth:`from_json`)."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _claim_json(claim: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: claim[k] for k in CLAIM_KEYS if k in claim}
    if claim.get("parts"):
        out["parts"] = [{k: part[k] for k in CLAIM_KEYS if k in part} for part in claim["parts"]]
    return out
