"""The bad-input catalogue of docs/reliability.md for settings and read-outs (rows 47-52): a
renamed setting, a bad read-out, an unknown refinement step or a name registered twice fails at
once, naming the problem and the fix (issue 22)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wsss_lib.cam import CamReadout, register_cam_method
from wsss_lib.postprocess.registry import register_refinement_step
from wsss_lib.profiles import load_profile, notebook_settings
from wsss_lib.runs import load_recipe
from wsss_lib.train.paradigms import SingleNetwork, register_paradigm

PROFILES = Path(__file__).resolve().parents[1] / "wsss_lib" / "profiles"


def _profile_with(tmp_path: Path, section: str, **settings) -> Path:
    data = json.loads((PROFILES / "quick.json").read_text())
    data[section].update(settings)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    return path


def test_a_renamed_setting_is_refused_with_its_new_name(tmp_path):
    with pytest.raises(ValueError, match=r"notebook '01_co_occurrence_bias': the setting "
                                         r"'levels' is now 'train_levels'; use the new name"):
        notebook_settings("01_co_occurrence_bias", "quick", levels=[[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"section '\*': the setting 'pretrain' is now "
                                         r"'proxy_pretrain'"):
        load_profile(_profile_with(tmp_path, "*", pretrain=True))


def test_the_recipes_old_readout_keys_name_the_readout_setting():
    with pytest.raises(ValueError, match=r"'cam_method' is now 'readout.method'.*--set "
                                         r"readout.method=VALUE"):
        load_recipe("quick", cam_method="gradcam")
    with pytest.raises(ValueError, match=r"'threshold' is now 'readout.threshold'.*--set "
                                         r"readout.KEY=VALUE"):
        load_recipe("quick", threshold=0.4)


def test_a_bad_readout_names_what_is_valid():
    with pytest.raises(ValueError, match=r"Recipe setting 'readout' is invalid: Unknown CAM "
                                         r"method 'nope'; valid: \('cam', 'gradcam'"):
        load_recipe("quick", **{"readout.method": "nope"})
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        CamReadout("cam", threshold=1.5)
    with pytest.raises(ValueError, match="takes no layers; drop the layers or use "
                                         "method='gradcam'"):
        CamReadout("cam", layers=("blocks.-1",))
    with pytest.raises(ValueError, match="fusion='weighted' needs fusion_weights"):
        CamReadout("gradcam", fusion="weighted")


def test_an_unknown_refinement_step_lists_the_named_ones():
    with pytest.raises(ValueError, match=r"Unknown refinement step 'dcrf'; named steps are "
                                         r"\['crf', 'par'\].*pass the step object"):
        CamReadout("cam", refine=("dcrf",))


def test_a_name_registered_twice_names_its_owner():
    with pytest.raises(ValueError, match=r"CAM method name 'gradcam' is already registered "
                                         r"\(by 'gradcam'\).*unregister_cam_method"):
        register_cam_method("gradcam")(lambda request: None)
    with pytest.raises(ValueError, match=r"Refinement step 'crf' is already registered.*"
                                         r"unregister_refinement_step"):
        register_refinement_step("crf")(object)

    class Impostor(SingleNetwork):
        name = "single"

    with pytest.raises(ValueError, match="taken by SingleNetwork"):
        register_paradigm(Impostor)


def test_training_from_in_a_profile_says_it_is_gone(tmp_path):
    path = _profile_with(tmp_path, "08_your_own_data", training_from="02_teacher_student")
    with pytest.raises(ValueError, match=r"says training_from, which is gone: .* trains with "
                                         r"the profile's '\*' section; remove it"):
        load_recipe(path)


def test_catalogue_section_names_these_tests():
    catalogue = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    section = catalogue.read_text().split("### Settings and read-outs")[1].split("\n## ")[0]
    rows = re.findall(r"^\| (\d+) \|.*\| (`test_\w+`(?:, `test_\w+`)*) \|$", section,
                      flags=re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(47, 47 + len(rows)))
    named = {name for _, cell in rows for name in re.findall(r"`(test_\w+)`", cell)}
    here = {name for name in globals() if name.startswith("test_")}
    assert named == here - {"test_catalogue_section_names_these_tests"}
