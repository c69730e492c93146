"""Figures: every function takes rows or arrays as arguments and returns a bare matplotlib
``Figure`` (no pyplot state), so notebooks, the report and the widgets can all use them.

- :mod:`~wsss_lib.plots.scenes`: mask colours, :func:`~wsss_lib.plots.scenes.overlay_mask`,
  :func:`~wsss_lib.plots.scenes.overlay_cam`, the contact sheet, ``save_figure``;
- :mod:`~wsss_lib.plots.cams`: the CAM gallery every notebook uses, the threshold curve;
- :mod:`~wsss_lib.plots.bias` (notebook 01), :mod:`~wsss_lib.plots.method` (02–04),
  :mod:`~wsss_lib.plots.refinement` (05–06): the notebooks' own figures.

Plots import only each other, ``data`` and ``utils``: never a study, ``results``, the report or
the widgets (checked by ``tests/test_import_graph.py``).
"""
