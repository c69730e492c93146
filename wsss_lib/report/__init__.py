"""The report: run every tutorial notebook with a profile and gather the results in one page.

Command line: ``wsss report --profile quick`` (or ``python -m wsss_lib.report``); from Python::

    from wsss_lib.report import run_report
    summary = run_report(profile="quick", jobs=2)   # notebooks: ./notebooks or the installed ones
    print(summary.index_html, summary.exit_code)

The notebooks are installed with the package (``<prefix>/share/wsss-lab/notebooks``, see
:mod:`wsss_lib.resources`), so ``wsss report`` also works outside a clone; ``--notebooks DIR``
runs another folder.
"""

from wsss_lib.report.execute import NotebookResult, cell_timings, execute_job
from wsss_lib.report.html import (
    PAPER_LABEL,
    build_index_html,
    key_results_rows,
    render_notebook_html,
    results_table_rows,
    write_index_html,
)
from wsss_lib.report.plan import (
    NotebookJob,
    discover_notebooks,
    notebook_digest,
    parse_value,
    plan_jobs,
)
from wsss_lib.report.profiles import available_profiles, load_profile, notebook_profile_settings
from wsss_lib.report.runner import DEFAULT_TIMEOUTS, ReportSummary, run_report

__all__ = [
    "DEFAULT_TIMEOUTS",
    "PAPER_LABEL",
    "NotebookJob",
    "NotebookResult",
    "ReportSummary",
    "available_profiles",
    "build_index_html",
    "cell_timings",
    "discover_notebooks",
    "execute_job",
    "key_results_rows",
    "load_profile",
    "notebook_digest",
    "notebook_profile_settings",
    "parse_value",
    "plan_jobs",
    "render_notebook_html",
    "results_table_rows",
    "run_report",
    "write_index_html",
]
