"""The bad-input catalogue of docs/reliability.md: every bad input fails early with an error that
names the problem (the file, the value) and the fix; untrusted files are never unpickled.

Each test is one row of the catalogue's table; keep the two in step. Recovery from kills and
interruptions (determinism, resume, report re-runs) lives in ``test_reliability_recovery.py``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from wsss_lib.cam import GradCamAdapter, compute_cam
from wsss_lib.data import SceneConfig, SmokeScenes, generate_scenes, load_folder, save_folder
from wsss_lib.losses import KnowledgeTransferLoss, validate_lambda
from wsss_lib.models import build_classifier, load_classifier
from wsss_lib.report import plan_jobs, run_report
from wsss_lib.train import (
    DataSpec,
    KTSpec,
    ModelSpec,
    TrainConfig,
    get_or_train,
    load_checkpoint,
    load_run,
    run_dir_for,
    train_classifier,
)
from wsss_lib.utils import atomic_write_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# timm's tiny test architectures keep the tests fast on a shared CPU.
CNN = ModelSpec("test_resnet", {"output_stride": 8})
TINY_DATA = DataSpec(image_size=32, n_train=16, val_split=None)


def tiny_config(**overrides) -> TrainConfig:
    base = dict(paradigm="single", model=CNN, data=TINY_DATA, epochs=1, batch_size=8)
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def scenes() -> SmokeScenes:
    """Eight 32 px synthetic scenes with masks (both classes)."""
    return generate_scenes(SceneConfig(image_size=32, n_images=8, seed=3))


@pytest.fixture
def data_folder(scenes: SmokeScenes, tmp_path: Path) -> Path:
    """A valid data folder (labels.csv, images/, masks/) to break in one place per test."""
    return save_folder(scenes, tmp_path / "data")


def rewrite_csv(folder: Path, row: str) -> None:
    """Replace the labels file with the header and one row."""
    (folder / "labels.csv").write_text(f"file,label\n{row}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def cnn():
    return build_classifier("test_resnet").eval()


@pytest.fixture(scope="module")
def vit():
    return build_classifier("test_vit", img_size=32).eval()


def images(size: int = 32, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


class PickleBomb:
    """Unpickling this creates ``marker``: proof that code from a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------------------ data folders


def test_missing_data_folder_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match=r"Data folder .*no_such_folder does not exist"):
        load_folder(missing)


def test_corrupt_image_names_the_file_and_the_fix(data_folder: Path, scenes: SmokeScenes) -> None:
    broken = data_folder / "images" / f"{scenes.names[0]}.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then the file just stops")
    with pytest.raises(ValueError, match=rf"Cannot read image .*{broken.name}.*corrupt"):
        load_folder(data_folder)


def test_wrong_label_value_names_line_value_and_valid_labels(
    data_folder: Path, scenes: SmokeScenes
) -> None:
    rewrite_csv(data_folder, f"images/{scenes.names[0]}.png,maybe")
    with pytest.raises(ValueError, match=r"line 2: label 'maybe' is not valid.*smoke, clean"):
        load_folder(data_folder)


def test_mask_of_another_size_names_both_sizes(data_folder: Path, scenes: SmokeScenes) -> None:
    smoke = int(np.flatnonzero(scenes.labels == 1)[0])
    mask = data_folder / "masks" / f"{scenes.names[smoke]}.png"
    Image.new("L", (16, 20), 255).save(mask)
    with pytest.raises(ValueError, match=r"is 16x20 \(WxH\) but its image .* is 32x32"):
        load_folder(data_folder)


@pytest.mark.parametrize("escaping", ["../outside.png", "/etc/outside.png", "images/../../x.png"])
def test_csv_path_escaping_the_data_folder_is_refused(
    data_folder: Path, escaping: str
) -> None:
    (data_folder.parent / "outside.png").write_bytes(b"")  # it exists: refused all the same
    rewrite_csv(data_folder, f"{escaping},smoke")
    with pytest.raises(ValueError, match=r"points outside the data folder"):
        load_folder(data_folder)


def test_empty_dataset_csv_is_refused(data_folder: Path) -> None:
    (data_folder / "labels.csv").write_text("file,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"has a header but no rows: the dataset is empty"):
        load_folder(data_folder)


def test_empty_training_set_is_refused_before_training(tmp_path: Path) -> None:
    empty = SmokeScenes(
        images=np.zeros((0, 32, 32, 3), np.uint8), labels=np.zeros(0, np.int64)
    )
    with pytest.raises(ValueError, match="training set is empty"):
        train_classifier(tiny_config(), tmp_path / "run", train_scenes=empty, progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_single_class_folder_is_refused_before_training(
    data_folder: Path, scenes: SmokeScenes, tmp_path: Path
) -> None:
    clean = [name for name, label in zip(scenes.names, scenes.labels, strict=True) if label == 0]
    clean_rows = [f"images/{name}.png,clean" for name in clean]
    (data_folder / "labels.csv").write_text("file,label\n" + "\n".join(clean_rows) + "\n")
    only_clean = load_folder(data_folder)
    with pytest.raises(ValueError, match=r"only clean images .*needs both classes"):
        train_classifier(tiny_config(), tmp_path / "run", train_scenes=only_clean, progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# ------------------------------------------------------------------------ models, CAMs, loss


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown model 'resnet999'.*resnet18, resnet34"):
        build_classifier("resnet999")


def test_unknown_cam_method_lists_valid_methods(cnn) -> None:
    with pytest.raises(ValueError, match=r"Unknown CAM method 'magiccam'.*'gradcam'"):
        compute_cam(cnn, images(), method="magiccam")


@pytest.mark.parametrize(
    ("family", "layer", "message"),
    [
        ("cnn", "layer9", r"Unknown layer 'layer9' of test_resnet; valid: layer1"),
        ("cnn", "layer4.nope", r"layer4 of test_resnet has no sub-module 'nope'"),
        ("vit", "blocks.99", r"Unknown layer 'blocks.99'.*valid: blocks.0"),
        ("vit", -99, r"Layer index -99 is out of range"),
    ],
)
def test_unknown_layer_lists_valid_layers(cnn, vit, family, layer, message) -> None:
    model = cnn if family == "cnn" else vit
    with pytest.raises(ValueError, match=message):
        compute_cam(model, images(), method="gradcam", layers=[layer])


def test_uint8_channels_last_images_are_refused_with_the_conversion(cnn) -> None:
    raw = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"Expected float images \[B, 3, H, W\].*to_tensor_batch"):
        compute_cam(cnn, raw)


@pytest.mark.parametrize("lam", [-0.5, float("nan"), float("inf"), "1.0", True])
def test_bad_lambda_is_refused_everywhere_it_enters(lam) -> None:
    with pytest.raises(ValueError, match=r"lambda \(the KT-loss weight\) must be"):
        validate_lambda(lam)
    with pytest.raises(ValueError, match=r"lambda \(the KT-loss weight\) must be"):
        KTSpec(lam=lam)


def test_teacher_student_channel_mismatch_without_projection_names_the_fix(tmp_path) -> None:
    loss = KnowledgeTransferLoss(projection=False)
    with pytest.raises(ValueError, match=r"projection=False but channel counts differ: "
                                         r"student 192, teacher 1.*projection=True"):
        loss(torch.zeros(2, 192, 4, 4), torch.zeros(2, 1, 2, 2))
    config = TrainConfig(
        paradigm="co_training", student=ModelSpec("test_vit"), teacher=CNN, data=TINY_DATA,
        epochs=1, batch_size=8, kt=KTSpec(projection=False),
    )
    with pytest.raises(ValueError, match=r"projection=False but channel counts differ"):
        train_classifier(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # failed at the first step


def test_model_stays_usable_while_a_gradcam_adapter_is_open(vit) -> None:
    """pytorch-grad-cam's layer hooks used to fire on every forward pass of the model, which
    crashed (no grid size yet) or reshaped tokens with a stale grid."""
    with GradCamAdapter(vit) as adapter:
        with torch.no_grad():
            out = vit(images(size=48))  # before any adapter call, at another size
        assert out.logits.shape == (2, 1)
        cam = adapter(images(size=32))
        with torch.no_grad():
            assert vit(images(size=40)).logits.shape == (2, 1)  # after a call, another size
        assert not adapter._cam.activations_and_grads.activations  # nothing tapped outside
    assert cam.shape == (2, 32, 32) and 0 <= float(cam.min()) <= float(cam.max()) <= 1


# ------------------------------------------------------------------------------ checkpoints


def test_checkpoint_of_another_config_is_not_resumed(tmp_path: Path) -> None:
    train_classifier(tiny_config(), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"different configuration \(differs in \['batch_size'\]"):
        train_classifier(tiny_config(batch_size=4), tmp_path, progress=False)


def test_cache_entry_of_another_config_is_never_reused(tmp_path: Path) -> None:
    config = tiny_config()
    entry = run_dir_for(config, tmp_path)
    entry.mkdir(parents=True)
    forged = {"config": tiny_config(lr=0.5).to_dict(), "generator_version": "x",
              "train_code_version": "x"}
    (entry / "config.json").write_text(json.dumps(forged))
    with pytest.raises(RuntimeError, match=r"does not belong to the requested config.*lr"):
        get_or_train(config, cache_dir=tmp_path, progress=False)
    assert not (entry / "checkpoint.pt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"definitely not a checkpoint", r"Cannot read .* as a checkpoint.*delete it and retrain"),
        ("tensor", r"is a torch file but not a wsss-lab checkpoint"),
    ],
)
def test_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, content, message) -> None:
    path = tmp_path / "checkpoint.pt"
    if content == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=message):
        load_run(tmp_path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_never_executed(tmp_path: Path) -> None:
    """A ``__reduce__`` payload in a checkpoint, a weights file, a cache entry or a dataset npz
    is refused, and the code it carries never runs."""
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(PickleBomb(control)))
    assert control.exists()  # the payload is live: plain unpickling runs it
    marker = tmp_path / "PWNED"
    bomb = PickleBomb(marker)
    torch_file = tmp_path / "evil.pt"
    torch.save({"format": "wsss-lab-checkpoint/1", "epoch": 1, "models": bomb}, torch_file)
    raw_pickle = tmp_path / "evil.pkl.pt"
    raw_pickle.write_bytes(pickle.dumps(bomb))

    with pytest.raises(ValueError, match=r"Refusing to load .*could run code"):
        load_checkpoint(torch_file)
    with pytest.raises(ValueError, match=r"not a torch checkpoint"):
        load_checkpoint(raw_pickle)
    with pytest.raises(RuntimeError, match=r"weights_only loading refuses"):
        load_classifier(torch_file)
    with pytest.raises(RuntimeError, match=r"weights_only loading refuses"):
        build_classifier("test_resnet", weights_path=torch_file)

    config = tiny_config()  # a poisoned model-cache entry
    entry = run_dir_for(config, tmp_path / "cache")
    entry.mkdir(parents=True)
    (entry / "checkpoint.pt").write_bytes(torch_file.read_bytes())
    with pytest.raises(ValueError, match=r"Refusing to load .*could run code"):
        get_or_train(config, cache_dir=tmp_path / "cache", progress=False)

    npz_with_object = tmp_path / "objects.npz"
    np.savez(npz_with_object, images=np.array([bomb], dtype=object), labels=np.zeros(1))
    pickle_as_npz = tmp_path / "pickle.npz"
    pickle_as_npz.write_bytes(pickle.dumps(bomb))
    for path in (npz_with_object, pickle_as_npz):
        with pytest.raises(ValueError, match=r"pickled Python objects \(never loaded"):
            SmokeScenes.load(path)
    assert not marker.exists()


# ------------------------------------------------------------------------ report and outputs


def write_notebook(folder: Path, name: str, parameters: str, body: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cell = nbformat.v4.new_code_cell('profile = "quick"\noutput_dir = "."\n' + parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell] + ([nbformat.v4.new_code_cell(body)] if body else [])
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def test_notebook_parameter_of_the_wrong_type_is_refused_before_running(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb", "03_lam.ipynb", "epochs = 2  # an int\n")
    with pytest.raises(ValueError, match=r"Parameter 'epochs' of notebook 03_lam expects type "
                                         r"int.*got str 'two'"):
        plan_jobs([notebook], "quick", tmp_path / "out", [("epochs", "two")])


def test_output_folder_below_a_regular_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file, not a folder")
    write_notebook(tmp_path / "nb", "01_x.ipynb", "")
    with pytest.raises(ValueError, match=r"Output folder .*a_file/report is not writable"):
        run_report(tmp_path / "nb", out_dir=blocker / "report", echo=None)
    with pytest.raises(NotADirectoryError, match=r"Cannot write to folder .*a_file/sub.*is a "
                                                  r"file, not a folder"):
        atomic_write_json(blocker / "sub" / "metrics.json", {"x": 1})
    with pytest.raises(ValueError, match=r"Cannot create the run folder .*a_file/run"):
        train_classifier(tiny_config(), blocker / "run", progress=False)
