"""Where pretrained weights for the CLIP and SAM refiners come from, and whether they are there.

Both refiners need large pretrained checkpoints that this project never ships. They are found in
this order:

1. an explicit local file (``weights_path=`` / ``checkpoint=``): must exist, else
   ``FileNotFoundError`` naming the path;
2. a file already in a local cache: the Hugging Face cache that open_clip downloads into (CLIP),
   or ``<cache>/weights/<file name>`` (SAM), ``<cache>`` being
   :func:`wsss_lib.utils.default_cache_dir`;
3. CLIP only: open_clip's own download, when the Hugging Face Hub answers within a few seconds.

When none of these works, loading raises :class:`WeightsUnavailableError` at once (never a hung
download) with a message saying which file to get and where to put it. Notebooks call
:func:`clip_weights_available` / :func:`sam_weights_available` first and record
``skipped: no CLIP weights`` instead of failing.

``HF_HUB_OFFLINE=1`` skips the network check entirely; otherwise the check is the one the
classifier weights use (:func:`wsss_lib.models.weights.hub_is_reachable`, which honours
``HTTPS_PROXY`` and answers within ~3 s even when DNS hangs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wsss_lib.models.weights import HUB_HOST, hub_is_reachable
from wsss_lib.utils import default_cache_dir

__all__ = [
    "SAM_CHECKPOINTS",
    "SamCheckpoint",
    "WeightsUnavailableError",
    "clip_weights_available",
    "resolve_clip_weights",
    "resolve_sam_checkpoint",
    "sam_weights_available",
    "weights_dir",
]

# The file names open_clip looks for in a Hugging Face repo (open_clip.constants).
_OPEN_CLIP_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither on disk nor downloadable from here.

    The message says which file is needed and how to supply it.
    """


@dataclass(frozen=True)
class SamCheckpoint:
    """An official segment-anything checkpoint: its file name and where to download it."""

    filename: str
    url: str


SAM_CHECKPOINTS: dict[str, SamCheckpoint] = {
    "vit_b": SamCheckpoint(
        "sam_vit_b_01ec64.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
    ),
    "vit_l": SamCheckpoint(
        "sam_vit_l_0b3195.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    ),
    "vit_h": SamCheckpoint(
        "sam_vit_h_4b8939.pth",
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    ),
}


def weights_dir() -> Path:
    """Folder searched for weight files that were not given explicitly: ``<cache>/weights``."""
    return default_cache_dir() / "weights"


def _offline_by_env() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _existing_file(path: str | os.PathLike[str], what: str, fix: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist. {fix}")
    return path


# ----------------------------------------------------------------------------------------- CLIP


def _clip_hf_source(model_name: str, pretrained: str | None) -> tuple[str, tuple[str, ...]] | None:
    """``(repo id, file names)`` open_clip downloads ``pretrained`` from, or None (not a tag)."""
    if not pretrained:
        return None
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name.replace("/", "-"), pretrained)
    hub = (cfg or {}).get("hf_hub", "")
    if not hub:
        return None
    # open_clip's convention: "org/repo/" means the default file names, "org/repo/file" one file.
    repo, filename = os.path.split(hub)
    return repo, ((filename,) if filename else _OPEN_CLIP_HF_FILES)


def _clip_cached_file(model_name: str, pretrained: str | None) -> Path | None:
    """A CLIP checkpoint open_clip already downloaded into the Hugging Face cache, if any."""
    source = _clip_hf_source(model_name, pretrained)
    if source is None:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # open_clip then cannot download from the hub either
        return None
    repo, filenames = source
    for filename in filenames:
        hit = try_to_load_from_cache(repo_id=repo, filename=filename)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def _clip_missing_message(model_name: str, pretrained: str | None, why: str) -> str:
    hf_source = _clip_hf_source(model_name, pretrained)
    source = (
        f"https://huggingface.co/{hf_source[0]} (file {hf_source[1][0]})"
        if hf_source
        else f"the open_clip release of {model_name!r} / {pretrained!r}"
    )
    return (
        f"No CLIP weights for model {model_name!r}, pretrained={pretrained!r}: {why}. "
        f"Download them on a networked machine from {source}, copy the file here and pass "
        "weights_path='/path/to/open_clip_model.safetensors' (keep pretrained= naming where the "
        "file came from, e.g. 'openai', so the right activation and normalisation are used); or "
        "run once with network access so open_clip caches it."
    )


def resolve_clip_weights(
    model_name: str = "ViT-B-32",
    pretrained: str | None = "openai",
    weights_path: str | os.PathLike[str] | None = None,
) -> str:
    """Return what to pass as open_clip's ``pretrained=``: a local file path or a download tag.

    Args:
        model_name: open_clip architecture name (``open_clip.list_models()``).
        pretrained: open_clip pretrained tag (``open_clip.list_pretrained()``), describing the
            weights; used to download them when no file is given.
        weights_path: local checkpoint file (state dict, ``.safetensors`` or ``.bin``/``.pt``).

    Raises:
        FileNotFoundError: ``weights_path`` is given but missing.
        WeightsUnavailableError: no file, nothing cached, and the hub is unreachable (answered
            within ~3 s) or ``pretrained`` is not a downloadable tag.
    """
    if weights_path is not None:
        return str(_existing_file(
            weights_path, "CLIP weights", "Pass the path of a downloaded open_clip checkpoint."
        ))
    cached = _clip_cached_file(model_name, pretrained)
    if cached is not None:
        return str(cached)
    if not pretrained:
        raise WeightsUnavailableError(_clip_missing_message(
            model_name, pretrained, "neither weights_path nor a pretrained tag was given"
        ))
    if _clip_hf_source(model_name, pretrained) is None:
        raise WeightsUnavailableError(_clip_missing_message(
            model_name, pretrained,
            "this is not an open_clip pretrained tag that can be downloaded from the Hugging Face "
            "Hub (see open_clip.list_pretrained())",
        ))
    if not hub_is_reachable():
        why = ("HF_HUB_OFFLINE is set" if _offline_by_env()
               else f"{HUB_HOST} is not reachable from this machine")
        raise WeightsUnavailableError(_clip_missing_message(model_name, pretrained, why))
    return pretrained


def clip_weights_available(
    model_name: str = "ViT-B-32",
    pretrained: str | None = "openai",
    weights_path: str | os.PathLike[str] | None = None,
) -> tuple[bool, str]:
    """Whether :class:`~wsss_lib.postprocess.clip_refine.ClipRefiner` can load its weights.

    Returns:
        ``(True, where)`` with the file or "download ..." it would use, or ``(False, reason)``
        with the message that loading would raise. Never downloads; answers within ~3 s.
    """
    try:
        source = resolve_clip_weights(model_name, pretrained, weights_path)
    except (FileNotFoundError, WeightsUnavailableError) as err:
        return False, str(err)
    if os.path.isfile(source):
        return True, f"local file {source}"
    return True, f"download of {model_name!r} / {source!r} through open_clip"


# ------------------------------------------------------------------------------------------ SAM


def _sam_entry(model_type: str) -> SamCheckpoint:
    if model_type not in SAM_CHECKPOINTS:
        raise ValueError(
            f"Unknown SAM model_type {model_type!r}; use one of {sorted(SAM_CHECKPOINTS)}."
        )
    return SAM_CHECKPOINTS[model_type]


def resolve_sam_checkpoint(
    model_type: str = "vit_b", checkpoint: str | os.PathLike[str] | None = None
) -> Path:
    """Return the local SAM checkpoint file: ``checkpoint`` or ``<cache>/weights/<official name>``.

    segment-anything has no automatic download, so nothing is fetched.

    Raises:
        ValueError: unknown ``model_type`` (and no explicit ``checkpoint``).
        FileNotFoundError: ``checkpoint`` is given but missing.
        WeightsUnavailableError: no ``checkpoint`` and nothing in the weights folder.
    """
    if checkpoint is not None:
        return _existing_file(
            checkpoint, "SAM checkpoint", "Pass the path of a downloaded sam_vit_*.pth file."
        )
    entry = _sam_entry(model_type)
    candidate = weights_dir() / entry.filename
    if candidate.is_file():
        return candidate
    raise WeightsUnavailableError(
        f"No SAM checkpoint for model_type {model_type!r}: pass checkpoint='/path/to/"
        f"{entry.filename}' or put the file at {candidate}. Download it (about 375 MB for "
        f"vit_b) on a networked machine from {entry.url}."
    )


def sam_weights_available(
    model_type: str = "vit_b", checkpoint: str | os.PathLike[str] | None = None
) -> tuple[bool, str]:
    """Whether :class:`~wsss_lib.postprocess.sam_refine.SamRefiner` finds its checkpoint.

    Returns:
        ``(True, path)`` or ``(False, reason)`` (the message loading would raise).
    """
    try:
        return True, str(resolve_sam_checkpoint(model_type, checkpoint))
    except (FileNotFoundError, WeightsUnavailableError, ValueError) as err:
        return False, str(err)
