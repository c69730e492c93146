"""One module per notebook question: build the configs, train or load the models, return rows.

A study's only product is tidy rows (lists or dicts of plain dicts, fractions in ``[0, 1]``):
no Markdown, no percent, no verdict sentence, no ``metrics.json``. Those are
:mod:`wsss_lib.results`'s job, and the figures are :mod:`wsss_lib.plots`'s.

- :mod:`~wsss_lib.studies.bias` (notebook 01): the chimney shortcut across co-occurrence levels;
- :mod:`~wsss_lib.studies.configs`: the method's settings and config builders (02–08);
- :mod:`~wsss_lib.studies.measure`: evaluation scenes, a run's row, a CAM's row, galleries (02–06);
- :mod:`~wsss_lib.studies.paradigms` (02), :mod:`~wsss_lib.studies.lambda_sweep` (03),
  :mod:`~wsss_lib.studies.alignment` (04): the method's three sweeps;
- :mod:`~wsss_lib.studies.fusion` (05): per-layer Grad-CAM, fusion, multi-scale;
- :mod:`~wsss_lib.studies.postprocessing` (06): CRF, PAR, AffinityNet, CLIP, SAM pipelines;
- :mod:`~wsss_lib.studies.shortcut` (09): the headline rows at coupled training levels;
- :mod:`~wsss_lib.studies.second_stage` (10): a segmenter trained on pseudo-masks, and on k
  true masks;
- :mod:`~wsss_lib.studies.shipped_networks`: every network a profile's notebooks read (the
  shipped set, and the full profile's pinned cache keys).

Studies import the core layers, :mod:`wsss_lib.profiles` and :mod:`wsss_lib.paper`; never
``plots``, ``results``, ``report``, ``widgets`` or ``cli``.
"""
