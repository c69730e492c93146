"""`wsss train` / `evaluate` / `pseudo-masks` / `runs`, the profiles' recipes, run lookup.

The done-when test of issue 13 is here: real-looking 16:9 JPEG frames with COCO polygons go
through load -> train (the quick profile) -> pseudo-masks -> evaluate, all through the CLI.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from wsss_lib import cli
from wsss_lib.runs import (
    RECIPE_FILE,
    load_recipe,
    read_run_recipe,
    resolve_run,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data_samples"
WIDTH, HEIGHT = 160, 90  # 16:9
PAPER_LAYERS = ["blocks.-5.norm1", "blocks.-4.norm1", "blocks.-2.norm1", "blocks.-1.norm1"]


# ---------------------------------------------------------------------------- a COCO export


def _frame(rng: np.random.Generator, plume: list[tuple[float, float]] | None,
           chimney_x: int | None) -> Image.Image:
    """A 16:9 frame: sky gradient, hazy horizon, ground, optional chimney and grey plume."""
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    sky = (1 - y) * np.array([95, 140, 200]) + y * np.array([190, 205, 220])
    pixels = np.repeat(sky, WIDTH, axis=1)
    pixels[int(HEIGHT * 0.72):] = np.array([70, 80, 60])
    pixels += rng.normal(0, 4, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image, "RGBA")
    if chimney_x is not None:
        draw.rectangle([chimney_x, 30, chimney_x + 6, int(HEIGHT * 0.72)], fill=(60, 55, 55, 255))
    if plume is not None:
        draw.polygon(plume, fill=(150, 150, 150, 200))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _plume(x: float) -> list[tuple[float, float]]:
    return [(x, 30.0), (x + 8, 30.0), (x + 40, 12.0), (x + 52, 4.0), (x + 30, 2.0),
            (x + 10, 14.0)]


def make_coco_export(root: Path) -> Path:
    """A Roboflow-style export: train/valid/test with JPEG frames and polygon annotations.

    Categories as Roboflow writes them: a group category, smoke (high opacity) and steam (which is
    not smoke). Clean frames may carry a steam polygon.
    """
    rng = np.random.default_rng(0)
    categories = [
        {"id": 0, "name": "emissions", "supercategory": "none"},
        {"id": 1, "name": "smoke-high-opacity", "supercategory": "emissions"},
        {"id": 2, "name": "steam", "supercategory": "emissions"},
    ]
    layout = {"train": ["smoke", "clean", "smoke", "clean", "smoke", "clean"],
              "valid": ["smoke", "clean"], "test": ["smoke", "clean"]}
    for split, kinds in layout.items():
        folder = root / split
        folder.mkdir(parents=True)
        images, annotations = [], []
        for k, kind in enumerate(kinds):
            name = f"{split}_frame_{k:03d}.jpg"
            x = float(rng.integers(20, 90))
            plume = _plume(x) if kind == "smoke" else None
            _frame(rng, plume, int(x) if k % 2 == 0 or kind == "clean" else None).save(
                folder / name, quality=90)
            images.append({"id": k, "file_name": name, "width": WIDTH, "height": HEIGHT})
            if plume is not None:
                flat = [round(v, 1) for point in plume for v in point]
                annotations.append({"id": len(annotations), "image_id": k, "category_id": 1,
                                    "segmentation": [flat], "iscrowd": 0, "area": 600.0,
                                    "bbox": [x, 2.0, 52.0, 28.0]})
            elif k == 1:  # steam over a clean frame: not smoke
                annotations.append({"id": len(annotations), "image_id": k, "category_id": 2,
                                    "segmentation": [[10, 10, 30, 10, 30, 25, 10, 25]],
                                    "iscrowd": 0, "area": 300.0, "bbox": [10, 10, 20, 15]})
        (folder / "_annotations.coco.json").write_text(json.dumps(
            {"images": images, "annotations": annotations, "categories": categories}))
    return root


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_key(out: str) -> str:
    match = re.search(r"^Run: (\S+)$", out, re.MULTILINE)
    assert match, out
    return match.group(1)


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco_export(tmp_path_factory.mktemp("coco") / "export")


@pytest.fixture(scope="module")
def trained(coco: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`wsss train --profile quick --coco EXPORT` once for the module."""
    cache = tmp_path_factory.mktemp("cache")
    argv = ["train", "--profile", "quick", "--coco", str(coco), "--cache-dir", str(cache),
            "--quiet"]
    code = cli.main(argv)
    assert code == 0
    runs = sorted(p for p in (cache / "runs").iterdir() if p.is_dir()
                  and p.name.startswith("teacher_student"))
    assert len(runs) == 1
    return {"cache": cache, "argv": argv, "run_dir": runs[0], "key": runs[0].name}


# ---------------------------------------------------------------------------- done when


def test_16x9_jpeg_with_coco_polygon_goes_load_train_pseudo_masks_evaluate(
    coco: Path, trained: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cache, key = trained["cache"], trained["key"]
    # load -> train happened in the fixture; again, it is a cache hit with the same run
    code, out, _ = run_cli(trained["argv"], capsys)
    assert code == 0 and run_key(out) == key
    assert "coco" in out and "split train: 6 images (3 smoke, 3 clean" in out
    assert "Validation data: coco" in out and "split valid" in out
    recipe = read_run_recipe(trained["run_dir"])
    assert recipe["profile"] == "quick" and recipe["recipe"]["resize"] == "pad"
    # the method's recipe: its read-out chosen on the valid split, and recorded
    readout = recipe["readout"]
    assert readout["chosen_on"] == "val" and "chosen on the validation split" in out
    assert recipe["recipe"]["readout"]["method"] == readout["readout"]["method"]
    assert recipe["recipe"]["readout"]["threshold"] == readout["readout"]["threshold"]

    masks = tmp_path / "masks"
    code, out, err = run_cli(["pseudo-masks", "--run", key, "--coco", coco, "--split", "test",
                              "--out", masks, "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "2 masks written" in out and "size: original" in out and "smoke IoU" in out
    for name in ("test_frame_000", "test_frame_001"):
        with Image.open(masks / f"{name}.png") as img:
            assert img.size == (WIDTH, HEIGHT)  # the 16:9 original, not the 32 px square
    manifest = json.loads((masks / "manifest.json").read_text())
    assert manifest["model"]["run_id"] == key and manifest["settings"]["resize"] == "pad"
    assert manifest["settings"]["method"] == readout["readout"]["method"]  # the chosen read-out
    assert manifest["settings"]["threshold"] == readout["readout"]["threshold"]

    report = tmp_path / "evaluation.json"
    code, out, err = run_cli(["evaluate", key, "--coco", coco, "--out", report,
                              "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "smoke IoU (per image; paper mIoU)" in out and "resolution original" in out
    document = json.loads(report.read_text())
    assert document["data"]["split"] == "test" and document["run"] == key
    metrics = document["metrics"]
    assert metrics["n_images"] == 2 and metrics["n_smoke_images"] == 1
    assert metrics["resolution"] == "original"
    # The evaluation at the original size scores exactly the PNGs written above.
    assert metrics["smoke_iou"] == pytest.approx(manifest["metrics"]["smoke_iou"])


# ---------------------------------------------------------------------------- commands


def test_runs_lists_the_run_and_keys_resolve(trained: dict, capsys) -> None:
    code, out, _ = run_cli(["runs", "--cache-dir", trained["cache"]], capsys)
    assert code == 0 and trained["key"] in out and "profile quick" in out
    run_dir, cache = trained["run_dir"], trained["cache"]
    assert resolve_run(run_dir) == run_dir
    assert resolve_run(run_dir / "checkpoint.pt") == run_dir
    assert resolve_run(trained["key"], cache) == run_dir
    assert resolve_run(trained["key"].rsplit("-", 1)[-1][:8], cache) == run_dir  # hash prefix
    with pytest.raises(FileNotFoundError, match="No run 'nope'"):
        resolve_run("nope", cache)
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.pt"):
        resolve_run(cache)


def test_an_ambiguous_prefix_lists_the_matches(trained: dict, tmp_path: Path) -> None:
    for suffix in ("aaaa000000000000", "aaaa111111111111"):
        shutil.copytree(trained["run_dir"], tmp_path / "runs" / f"teacher_student-x-{suffix}")
    with pytest.raises(ValueError, match="matches 2 runs.*give more of the key"):
        resolve_run("aaaa", tmp_path)
    assert resolve_run("aaaa1", tmp_path).name.endswith("aaaa111111111111")


def test_an_unfinished_run_is_refused_with_how_to_finish_it(trained: dict, tmp_path) -> None:
    copy = tmp_path / "runs" / "teacher_student-x-0123456789abcdef"
    shutil.copytree(trained["run_dir"], copy)
    key = json.loads((copy / "config.json").read_text())
    key["config"]["epochs"] = 5
    (copy / "config.json").write_text(json.dumps(key))
    with pytest.raises(ValueError, match="unfinished.*1 of 5 epochs"):
        resolve_run(copy)


def test_pseudo_masks_resume_and_refuse_other_settings(
    trained: dict, tmp_path: Path, capsys
) -> None:
    args = ["pseudo-masks", "--run", trained["run_dir"], "--data", SAMPLES, "--out",
            tmp_path / "m", "--cache-dir", trained["cache"], "--quiet", "--no-score"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "36 masks written, 0 already there" in out
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "0 masks written, 36 already there (resumed)" in out
    code, _, err = run_cli([*args, "--threshold", "0.9"], capsys)
    assert code == 2 and "other settings" in err and "settings.threshold" in err
    with Image.open(tmp_path / "m" / "test_00000.png") as img:
        assert img.size == (96, 96)  # data_samples' original size


def test_evaluate_flags_override_the_runs_recipe(trained: dict, tmp_path: Path, capsys) -> None:
    common = ["--data", SAMPLES, "--cache-dir", trained["cache"], "--quiet"]
    out_file = tmp_path / "e1.json"
    code, out, _ = run_cli(["evaluate", trained["key"], *common, "--out", out_file], capsys)
    assert code == 0 and "the run's recipe (profile quick; read-out chosen on validation)" in out
    settings = json.loads(out_file.read_text())["settings"]
    chosen = read_run_recipe(trained["run_dir"])["readout"]["readout"]
    assert settings["method"] == chosen["method"] and settings["scales"] == [1.0]
    assert settings["threshold"] == chosen["threshold"]

    code, out, _ = run_cli(["evaluate", trained["key"], *common, "--out", out_file,
                            "--method", "cam", "--scales", "1,2", "--threshold", "0.5",
                            "--resolution", "model"], capsys)
    assert code == 0 and "command line" in out
    document = json.loads(out_file.read_text())
    assert document["settings"]["method"] == "cam" and document["settings"]["layers"] == []
    assert document["settings"]["scales"] == [1.0, 2.0]
    assert document["metrics"]["threshold"] == 0.5
    assert document["metrics"]["resolution"] == "model"

    code, out, _ = run_cli(["evaluate", trained["key"], *common, "--out", out_file,
                            "--profile", "paper", "--refine", "par"], capsys)
    assert code == 0
    settings = json.loads(out_file.read_text())["settings"]
    assert settings["layers"] == ["blocks.1.norm1", "blocks.2.norm1", "blocks.4.norm1",
                                  "blocks.5.norm1"]  # the paper's -5, -4, -2, -1 of 6 blocks
    assert settings["scales"] == [0.5, 1.0, 1.5, 2.0]
    assert [s["name"] for s in settings["refine"]] == ["par"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{tmp}/missing"], "does not exist"),
        (["train", "--profile", "nope", "--data", SAMPLES], "Unknown profile 'nope'"),
        (["train", "--data", SAMPLES, "--set", "nope=1"], "Unknown recipe setting(s) ['nope']"),
        (["train", "--data", SAMPLES, "--set", "image_size=big"], "'image_size' must be"),
        (["train", "--data", SAMPLES, "--set", "paradigm=magic"], "paradigm='magic'"),
        (["train", "--data", SAMPLES, "--set", "readout.method=nope"],
         "Unknown CAM method 'nope'"),
        (["train", "--data", SAMPLES, "--set", "cam_method=nope"],
         "'cam_method' is now 'readout.method'"),
        (["train", "--data", SAMPLES, "--set", "threshold=0.4"],
         "'threshold' is now 'readout.threshold'"),
        (["train", "--data", SAMPLES, "--cnn-weights", "{tmp}/r50.pth"], "cnn_weights"),
        (["train", "--data", SAMPLES, "--split", "test"], "--split applies to --coco"),
        (["train", "--profile", "{tmp}/own.json", "--data", SAMPLES], "no '08_your_own_data'"),
        (["evaluate", "nope", "--data", SAMPLES, "--cache-dir", "{tmp}"], "No run 'nope'"),
        (["pseudo-masks", "--run", "{run}", "--coco", "{coco}", "--split", "nosuch", "--out",
          "{tmp}/o"], "Split 'nosuch' not found"),
    ],
)
def test_bad_input_names_the_problem_and_exits_2(
    argv: list, message: str, trained: dict, coco: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "own.json").write_text(json.dumps({"*": {}, "01_x": {}}))
    filled = [str(a).format(tmp=tmp_path, run=trained["run_dir"], coco=coco) for a in argv]
    code, _, err = run_cli([*filled, "--quiet"], capsys)
    assert code == 2, err
    assert message in err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--profile", "quick"],  # neither --data nor --coco
        ["train", "--data", "a", "--coco", "b"],  # both
        ["evaluate", "RUN", "--data", "a", "--scales", "0,1"],
        ["evaluate", "RUN", "--data", "a", "--threshold", "2"],
        ["pseudo-masks", "--run", "RUN", "--data", "a"],  # no --out
    ],
)
def test_the_parser_rejects_malformed_options(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_offline_pretrained_weights_error_names_the_cli_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    code, _, err = run_cli(["train", "--profile", "paper", "--data", SAMPLES, "--set",
                            "image_size=32", "--cache-dir", tmp_path, "--quiet"], capsys)
    assert code == 2
    assert "not reachable" in err and "--cnn-weights FILE" in err


# ---------------------------------------------------------------------------- recipes


def test_paper_profile_is_the_papers_setting(tmp_path: Path) -> None:
    recipe = load_recipe("paper")
    assert (recipe.paradigm, recipe.image_size, recipe.resize) == ("ts_cnn_to_vit", 512, "pad")
    assert (recipe.cnn, recipe.cnn_pcm, recipe.cnn_output_stride) == ("resnet50", True, 16)
    assert (recipe.vit, recipe.vit_patch_size) == ("vit_base", 16)
    assert (recipe.batch_size, recipe.lr, recipe.epochs) == (8, 1e-4, 3)
    assert recipe.readout.to_record() == {"method": "gradcam", "layers": PAPER_LAYERS,
                                          "scales": [0.5, 1.0, 1.5, 2.0], "fusion": "mean",
                                          "normalize": "minmax", "threshold": 0.3,
                                          "refine": []}
    config = recipe.train_config()
    assert config.paradigm == "teacher_student" and config.batch_size == 8
    assert config.teacher.name == "resnet50" and config.student.name == "vit_base"
    assert config.teacher.kwargs == {"pcm": True, "output_stride": 16, "pretrained": True}
    assert config.student.kwargs == {"patch_size": 16, "pretrained": True}
    assert config.kt.lam == 1.0 and config.kt.level == "global" and config.kt.distance == "cosine"
    weights = tmp_path / "vit.safetensors"
    weights.write_bytes(b"")
    local = load_recipe("paper", vit_weights=str(weights)).train_config()
    assert local.student.kwargs == {"patch_size": 16, "weights_path": str(weights.resolve())}
    assert local.teacher.kwargs["pretrained"] is True  # only the ViT comes from a file


@pytest.mark.parametrize("profile", ["quick", "full", "paper"])
def test_every_shipped_profile_has_a_valid_recipe(profile: str) -> None:
    recipe = load_recipe(profile)
    assert recipe.train_config().data.image_size == recipe.image_size
    assert load_recipe(profile, epochs=1).epochs == 1


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 20-60 s alone; ~2 GB of weights and checkpoints under I/O load
def test_paper_profile_trains_at_a_tiny_size_with_local_weight_files(
    coco: Path, tmp_path: Path, capsys
) -> None:
    """The paper's networks (ResNet-50 + PCM, ViT-B/16) from weight files made here, 32 px.

    ViT-B's checkpoint (weights plus AdamW moments) is about 1 GB whatever the image size.
    """
    import timm
    from safetensors.torch import save_file

    files = {}
    for name, arch in (("cnn", "resnet50"), ("vit", "vit_base_patch16_224")):
        state = {k: v.contiguous() for k, v in timm.create_model(arch).state_dict().items()}
        files[name] = tmp_path / f"{arch}.safetensors"
        save_file(state, str(files[name]))
        del state
    cache = tmp_path / "cache"
    code, out, err = run_cli(["train", "--profile", "paper", "--data", SAMPLES,
                              "--set", "image_size=32", "--set", "epochs=1",
                              "--cnn-weights", files["cnn"], "--vit-weights", files["vit"],
                              "--cache-dir", cache, "--quiet"], capsys)
    assert code == 0, err
    assert "resnet50 + PCM, output stride 16 -> student vit_base/16" in out
    key = run_key(out)
    stored = json.loads((cache / "runs" / key / "config.json").read_text())["config"]
    assert stored["teacher"]["kwargs"]["weights_path"] == str(files["cnn"].resolve())
    assert stored["student"]["kwargs"]["weights_path"] == str(files["vit"].resolve())
    assert (stored["batch_size"], stored["lr"]) == (8, 1e-4)
    assert (cache / "runs" / key / RECIPE_FILE).is_file()
    code, out, err = run_cli(["evaluate", key, "--coco", coco, "--cache-dir", cache,
                              "--out", tmp_path / "e.json", "--quiet"], capsys)
    assert code == 0, err
    settings = json.loads((tmp_path / "e.json").read_text())["settings"]
    assert settings["layers"] == ["blocks.7.norm1", "blocks.8.norm1", "blocks.10.norm1",
                                  "blocks.11.norm1"]  # -5, -4, -2, -1 of ViT-B's 12 blocks
    assert settings["scales"] == [0.5, 1.0, 1.5, 2.0]


def test_describe_scenes_takes_a_mapping_or_a_free_text_label() -> None:
    """Notebook 08 labels its data with a string ("data_samples/coco train")."""
    from wsss_lib.data import make_split
    from wsss_lib.runs import describe_scenes

    scenes = make_split("val", image_size=32, n_images=6)
    labelled = describe_scenes(scenes, "data_samples/coco train")
    assert labelled["label"] == "data_samples/coco train" and labelled["n_images"] == 6
    assert labelled["n_smoke"] == int(scenes.labels.sum())
    described = describe_scenes(scenes, {"layout": "coco", "path": "/x", "split": "valid"})
    assert (described["format"], described["path"], described["split"]) == ("coco", "/x", "valid")
    assert "label" not in described and describe_scenes(scenes)["fingerprint"] == \
        scenes.fingerprint()
