"""Where a classifier's starting weights come from: timm's download, or a local file.

Two sources:

- ``pretrained=True``: timm's normal loading from the Hugging Face hub. Offline, that would hang
  on network timeouts, so we check first (``HF_HUB_OFFLINE`` or a ~3 s connection probe) and fail
  fast with instructions, unless the file is already in the local hub cache.
- ``weights_path=``: a local ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` file holding either a
  timm backbone state dict (e.g. downloaded from huggingface.co/timm) or one of our own
  checkpoints (a ``WSSSClassifier.state_dict()``, possibly inside a training checkpoint).

Files are read with ``safetensors`` or ``torch.load(..., weights_only=True)``: loading never runs
code from the file.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
from torch import nn

__all__ = [
    "WEIGHT_SUFFIXES",
    "cached_hub_file",
    "hub_is_reachable",
    "apply_state_dict",
    "load_backbone_state",
    "load_weights",
    "read_state_dict",
    "read_weights_file",
    "unwrap_state_dict",
]

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
HUB_HOST = "huggingface.co"
PROBE_TIMEOUT_S = 3.0
# Keys under which checkpoints commonly nest the model's state dict (timm, Lightning, ours).
_NESTED_KEYS = ("state_dict", "model", "model_state", "model_state_dict")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Top-level sub-modules of a WSSSClassifier (any variant): how its own state dicts are recognised.
_CLASSIFIER_CHILDREN = {"backbone", "classifier", "pcm"}


def _offline_flag() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def hub_is_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub (or the HTTPS proxy in use) accepts a TCP connection.

    The probe runs in a daemon thread joined with a timeout, because DNS resolution does not
    honour socket timeouts and can otherwise block for much longer than ``timeout``.
    """
    if _offline_flag():
        return False
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    host, port = HUB_HOST, 443
    if proxy:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = parts.hostname or host, parts.port or 443
    result: dict[str, bool] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError:
            result["ok"] = False

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return result.get("ok", False)


def _hub_cache_dir() -> str | None:
    """The hub cache folder, read from the environment at call time (tests may change it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None  # huggingface_hub's default (~/.cache/huggingface/hub)


def cached_hub_file(pretrained_cfg: Mapping[str, Any]) -> Path | None:
    """Path of the already-downloaded weights of a timm pretrained config, or None."""
    repo_id = pretrained_cfg.get("hf_hub_id")
    if not repo_id:
        return None
    from huggingface_hub import try_to_load_from_cache

    filenames = [pretrained_cfg.get("hf_hub_filename"), "model.safetensors", "pytorch_model.bin"]
    for filename in filter(None, filenames):
        found = try_to_load_from_cache(repo_id, filename, cache_dir=_hub_cache_dir())
        if isinstance(found, str):
            return Path(found)
    return None


def read_weights_file(path: str | os.PathLike[str]) -> Any:
    """Read a weights file without executing code from it.

    Returns:
        What the file holds: usually a dict of tensors, or a checkpoint dict nesting one.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported suffix.
        RuntimeError: the file is corrupt or holds Python objects other than tensors/containers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Weights file {path} does not exist. Pass weights_path= the path of a downloaded "
            f"{'/'.join(WEIGHT_SUFFIXES)} file (e.g. model.safetensors from "
            "https://huggingface.co/timm/<model name>) or of a wsss-lab checkpoint."
        )
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"Weights file {path} has suffix {path.suffix!r}; expected one of {WEIGHT_SUFFIXES}. "
            "Rename it if it really is a safetensors or torch.save file."
        )
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt zip, truncated file, refused pickle, bad header ...
        # torch's own message for a refused pickle suggests weights_only=False, which would run
        # arbitrary code from the file: keep only the exception type for that case.
        detail = type(err).__name__
        if "weights_only" not in str(err):
            detail += f": {str(err).splitlines()[0] if str(err) else ''}"
        raise RuntimeError(
            f"Could not read weights file {path}: {detail}. The file is "
            "corrupt, truncated, or holds Python objects that weights_only loading refuses. "
            "Download it again, or re-save plain tensors with "
            "torch.save(model.state_dict(), path) / safetensors.torch.save_file."
        ) from err


def _is_tensor_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor] | dict[str, dict]:
    """Find the state dict(s) inside what :func:`read_weights_file` returned.

    Returns:
        Either one flat ``{name: tensor}`` dict (wrapper prefixes like ``module.`` removed) or,
        for a wsss-lab training checkpoint, its ``{"role": state_dict}`` dict of networks.

    Raises:
        ValueError: nothing that looks like a state dict was found.
    """
    if isinstance(obj, Mapping) and isinstance(obj.get("models"), Mapping):
        roles = {k: v for k, v in obj["models"].items() if _is_tensor_dict(v)}
        if roles:
            return {role: _strip_wrappers(sd) for role, sd in roles.items()}
    if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        for key in _NESTED_KEYS:
            if _is_tensor_dict(obj.get(key)):
                obj = obj[key]
                break
    if not _is_tensor_dict(obj):
        kind = type(obj).__name__
        keys = list(obj)[:8] if isinstance(obj, Mapping) else []
        raise ValueError(
            f"{source} does not hold a state dict (got a {kind} with keys {keys}). Expected a "
            "dict of tensors, a checkpoint nesting one under 'state_dict'/'model', or a wsss-lab "
            "checkpoint; save one with torch.save(model.state_dict(), path)."
        )
    return _strip_wrappers(obj)


def _strip_wrappers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    cleaned = {}
    for key, value in state.items():
        while key.startswith(_WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        cleaned[key] = value
    return cleaned


def load_backbone_state(backbone: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a timm-format state dict into a timm backbone, adapting it like timm's pretrained path.

    timm's per-architecture ``checkpoint_filter_fn`` is applied (it resizes ViT position
    embeddings and patch embeddings to this model's image and patch size); classifier weights whose
    shape does not fit (e.g. a 1000-class ImageNet head) are dropped, so the head stays freshly
    initialised. Every other backbone weight must be present.

    Raises:
        RuntimeError: keys are missing/unexpected or shapes differ, naming a few and the fix.
    """
    filter_fn = getattr(sys.modules.get(type(backbone).__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        state = filter_fn(dict(state), backbone)
    classifier_names = backbone.pretrained_cfg.get("classifier") or ()
    if isinstance(classifier_names, str):
        classifier_names = (classifier_names,)
    own = backbone.state_dict()
    head_keys = {f"{name}.{p}" for name in classifier_names for p in ("weight", "bias")}
    state = {
        k: v
        for k, v in state.items()
        if not (k in head_keys and (k not in own or own[k].shape != v.shape))
    }
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                problems.append(f"{len(keys)} {label} keys (e.g. {keys[:4]})")
        if mismatched:
            shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                      for k in mismatched[:3]]
            problems.append(f"{len(mismatched)} shape mismatches ({'; '.join(shapes)})")
        raise RuntimeError(
            f"Weights in {source} do not fit backbone {type(backbone).__name__} "
            f"({backbone.pretrained_cfg.get('architecture')}): {', '.join(problems)}. Pass the "
            "weights of the same architecture (same model name and, for ViTs, embed dim/depth) "
            "or build the model whose weights these are."
        )
    backbone.load_state_dict(state, strict=False)  # only absent head keys may remain


def _is_classifier_state(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state`` is a whole ``WSSSClassifier.state_dict()`` (not a timm backbone's)."""
    prefixes = {key.split(".", 1)[0] for key in state}
    return "backbone" in prefixes and prefixes <= _CLASSIFIER_CHILDREN


def _pick_role(roles: dict[str, dict[str, torch.Tensor]], model: nn.Module, source: str):
    """The only network of a training checkpoint, or the one whose keys match ``model``."""
    if len(roles) == 1:
        return next(iter(roles.values()))
    wanted = set(model.state_dict())
    matching = [role for role, state in roles.items() if set(state) == wanted]
    if len(matching) == 1:
        return roles[matching[0]]
    reason = "several networks match" if matching else "no network matches this architecture"
    raise ValueError(
        f"{source} is a training checkpoint with networks {sorted(roles)} and {reason}. Build the "
        "same architecture as the network you want, or save that one alone first: "
        "torch.save(torch.load(path, weights_only=True)['models'][ROLE], 'model.pt')."
    )


def read_state_dict(path: str | os.PathLike[str]) -> tuple[dict, str]:
    """Read and unwrap a weights file: ``(state dict or {role: state dict}, description)``.

    Separate from :func:`apply_state_dict` so that a bad file fails before a model is built.
    """
    source = f"weights file {Path(path).expanduser()}"
    return unwrap_state_dict(read_weights_file(path), source), source


def apply_state_dict(model: nn.Module, state: dict, source: str) -> None:
    """Load what :func:`read_state_dict` returned into a ``WSSSClassifier``.

    A whole-classifier state dict (ours) is loaded strictly into the whole model; anything else
    is treated as a timm backbone state dict (:func:`load_backbone_state`).

    Raises:
        ValueError, RuntimeError: naming ``source`` and the fix.
    """
    if all(isinstance(v, Mapping) for v in state.values()):
        state = _pick_role(state, model, source)
    if not _is_classifier_state(state):
        load_backbone_state(model.backbone, state, source)
        return
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(
            f"{source} holds a wsss-lab classifier that does not match this one "
            f"({model.build_args}): {str(err).splitlines()[0]} ... Build the model with the same "
            "arguments it was trained with (name, pcm, patch_size, output_stride, num_classes)."
        ) from err


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a local weights file into a ``WSSSClassifier`` (see the module docstring for formats).

    Raises:
        FileNotFoundError, ValueError, RuntimeError: with the file name and the fix.
    """
    apply_state_dict(model, *read_state_dict(path))
