"""The paper's numbers, in one place: Zhang & Hsu 2025, arXiv 2507.21959.

Every value is smoke IoU in % (per image, averaged over smoke images: the paper's "mIoU") on
**real IJmond data** at 512 px, with ImageNet-pretrained ResNet-50+PCM teachers and ViT-B/16
students (global cosine alignment, λ = 1, unless a row says otherwise). Ours come from small
networks on the synthetic benchmark: compare trends and fractions, never values.

Rows are named like the rows of the studies that are compared with them (``wsss_lib.studies``),
so a table can put the paper's number beside ours by row name. The results modules
(``wsss_lib.results``) write the claim sentences from these numbers; nothing else in the
library types them.
"""

from __future__ import annotations

__all__ = [
    "PAPER",
    "PAPER_ALIGNMENT",
    "PAPER_BIAS",
    "PAPER_FUSION",
    "PAPER_LAMBDA",
    "PAPER_OWN_DATA",
    "PAPER_PARADIGMS",
    "PAPER_POSTPROCESS",
    "PAPER_SCALES",
]

#: How the paper is cited in notes.
PAPER = "Zhang & Hsu 2025 (arXiv 2507.21959)"

#: The paper's multi-scale inference scales (notebooks 05 and 06 use them by default).
PAPER_SCALES: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)

#: Notebook 01: the single networks and the fully supervised reference (SETR).
PAPER_BIAS: dict[str, dict[str, float]] = {
    "resnet50_pcm": {"smoke_iou": 33.56},
    "vit": {"smoke_iou": 13.18},
    "fully_supervised_setr": {"smoke_iou": 68.27},
}

#: Notebook 02: rows named like ``studies.paradigms.PARADIGM_ROWS``.
PAPER_PARADIGMS: dict[str, dict[str, float]] = {
    "single_cnn": {"smoke_iou": 33.56},
    "single_vit": {"smoke_iou": 13.18},
    "ts_cnn_to_vit": {"smoke_iou": 47.37},
    "co_training": {"smoke_iou": 45.93},
}

#: Notebook 03: λ -> smoke IoU of the CNN→ViT teacher-student.
PAPER_LAMBDA: dict[float, float] = {0.3: 38.55, 0.5: 43.81, 0.8: 45.04, 1.0: 47.37, 1.3: 46.62,
                                    1.5: 41.90}

#: Notebook 04: rows named like ``studies.alignment.ALIGNMENT_VARIANTS``. The paper's L1 / L2 rows
#: are attached to our plain ("raw") L1 / L2 variants, the most likely reading of its text; it
#: does not say whether the maps were normalised first.
PAPER_ALIGNMENT: dict[str, dict[str, float]] = {
    "global_cosine": {"smoke_iou": 47.37},
    "channel_cosine": {"smoke_iou": 46.85},
    "spatial_cosine": {"smoke_iou": 43.70},
    "global_l1_raw": {"smoke_iou": 38.39},
    "global_l2_raw": {"smoke_iou": 33.74},
}

#: Notebook 05: the paper's "poor" and "good" seed CAMs are our weak and strong seeds; rows are
#: named like ``results.fusion.weak_strong_rows``.
PAPER_FUSION: dict[str, dict[str, float]] = {
    "weak seed / last layer": {"smoke_iou": 37.42},
    "weak seed / fused (mean)": {"smoke_iou": 46.91},
    "strong seed / last layer": {"smoke_iou": 46.25},
    "strong seed / fused (mean)": {"smoke_iou": 45.27},
    "strong seed / multi-scale (last layer)": {"smoke_iou": 47.37},
}

#: Notebook 06: smoke IoU after each refinement (and before it, where the paper states it); rows
#: named like ``studies.postprocessing.PIPELINE_NAMES``. CLIP is reported as a failure without a
#: number; AffinityNet was applied to the poor seed.
PAPER_POSTPROCESS: dict[str, dict[str, float]] = {
    "MS": {"smoke_iou": 47.37, "smoke_iou_before": 46.25},
    "CRF": {"smoke_iou": 52.52},
    "AffinityNet": {"smoke_iou": 34.00, "smoke_iou_before": 37.42},
    "SAM": {"smoke_iou": 51.00},
    "SAM+CRF": {"smoke_iou": 52.93},
}

#: Notebook 08: the paper's teacher-student on IJmond-SEG's test split.
PAPER_OWN_DATA: dict[str, dict[str, float]] = {
    "IJmond-SEG test (paper, teacher-student CNN→ViT)": {"smoke_iou": 47.37},
}
