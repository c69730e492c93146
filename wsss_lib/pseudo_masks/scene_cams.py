"""CAMs of whole scene sets, batch by batch, and the frame they are compared in: the model of a run
or file, the output geometry (model frame or each image's original size) and where the ground
truth comes from.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from wsss_lib.cam.readout import CamReadout
from wsss_lib.train.evaluate import scene_cams
from wsss_lib.utils import check_batch_size, config_hash, get_device


def _resolve_model(run_or_model: Any, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The CAM network of a run / run folder / cache key / classifier, and how to identify it."""
    from wsss_lib.train import TrainedRun, load_run

    if isinstance(run_or_model, (str, os.PathLike)):
        from wsss_lib.train.cache import find_run

        run_or_model = load_run(find_run(run_or_model), device)
    if isinstance(run_or_model, TrainedRun):
        run = run_or_model
        config = run.config.to_dict()
        run_id = None if run.run_dir is None else run.run_dir.name
        info = {
            "id": run_id or f"config-{config_hash(config)}",
            "run_id": run_id,
            "run_dir": None if run.run_dir is None else str(run.run_dir),
            "config": config,
            "config_hash": config_hash(config),
        }
        return run.model, info
    if isinstance(run_or_model, nn.Module) and hasattr(run_or_model, "resolve_module"):
        model = run_or_model
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        weights = digest.hexdigest()[:16]
        build_args = getattr(model, "build_args", None)
        return model, {"id": f"weights-{weights}", "build_args": build_args,
                       "weights_sha256": weights}
    raise ValueError(
        f"run_or_model must be a TrainedRun, a WSSSClassifier, a run folder or a cache key; got "
        f"{type(run_or_model).__name__}. Train one with wsss_lib.train.get_or_train or "
        "`wsss train`."
    )


def _output_geometry(scenes: Any) -> tuple[str, Callable[[np.ndarray, int], np.ndarray]]:
    """``("input" | "original", to_output)``: where masks are written and how a CAM gets there.

    ``to_output(cam float [H, W], index) -> float [h, w]``. Scenes loaded with a resize (their
    ``params`` record each image's original size and resize box) are mapped back to every
    image's original size with :func:`wsss_lib.data.resize.cam_to_original` (bilinear upsampling
    of the CAM; padding dropped, crop margins 0); other scenes keep the size the model saw.
    """
    from wsss_lib.data.resize import cam_to_original, scene_geometry

    geometries = [scene_geometry(scenes, i) for i in range(len(scenes))]
    if all(g.is_identity for g in geometries):
        return "input", lambda cam, _index: cam
    return "original", lambda cam, index: cam_to_original(cam, geometries[index])


def masks_at_original_size(scenes: Any) -> bool:
    """True when :func:`export_pseudo_masks` writes ``scenes``' masks at another size than the
    model's input (the images were resized when loaded), i.e. scoring them needs the ground
    truth at the original size (``truth=``)."""
    return _output_geometry(scenes)[0] == "original"


def _truth_source(
    scenes: Any, truth: Any, output_size: str
) -> tuple[Callable[[int], np.ndarray] | None, str | None]:
    """Ground truth at the output size, per scene index, or ``(None, reason)``.

    The ground truth is never resized: at the input size it is the scenes' own masks; at the
    original size it comes from ``truth`` (the same data loaded with ``image_size=None``).
    """
    if truth is None:
        if scenes.smoke_masks is None:
            return None, "the scenes have no ground-truth masks"
        if output_size == "original":
            return None, (
                "the masks are written at the original image size, but the ground truth was "
                "loaded resized; pass truth= the same data loaded at its original size "
                "(image_size=None) to score them without downsampling the ground truth"
            )
        return (lambda i: scenes.smoke_masks[i]), None
    if truth.smoke_masks is None:
        raise ValueError("truth= has no smoke masks; pass scenes loaded with their masks.")
    where = {name: k for k, name in enumerate(truth.names)}
    missing = [n for n in scenes.names if n not in where]
    if missing:
        raise ValueError(
            f"truth= lacks the images {missing[:3]} of the scenes; load the same data (same "
            "folder / split) at its original size."
        )
    return (lambda i: truth.smoke_masks[where[scenes.names[i]]]), None


def _check_truth_shape(truth: np.ndarray, mask: np.ndarray, name: str) -> None:
    if truth.shape != mask.shape:
        raise ValueError(
            f"The ground truth of {name!r} is {truth.shape[1]}x{truth.shape[0]} (WxH) but its "
            f"pseudo-mask is {mask.shape[1]}x{mask.shape[0]}; pass truth= loaded at the original "
            "size (image_size=None) for masks written at the original size."
        )


#: The CAMs (refined by a read-out's steps) of some scenes, batch by batch: the one loop,
#: :func:`wsss_lib.train.evaluate.scene_cams`, under the name this package always exported.
compute_scene_cams = scene_cams


def _prepare_cams(
    run_or_model: Any, readout: CamReadout, batch_size: int, device: str | torch.device | None,
) -> tuple[torch.device, nn.Module, dict[str, Any], list[Any], CamReadout]:
    """What :func:`evaluate_scenes` and :func:`export_pseudo_masks` both start from: the device,
    the network and its description, the refinement steps and the read-out resolved for the
    network (canonical layer names)."""
    check_batch_size(batch_size)
    device = get_device(device)
    model, info = _resolve_model(run_or_model, device)
    steps = readout.refinement_steps()
    return device, model, info, steps, readout.resolve(model)
