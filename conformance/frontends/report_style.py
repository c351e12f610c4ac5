"""The reports' shared stylesheet (``templates/report.css``), for every HTML page the
front ends write: the run report (:mod:`.report_html`) and the coverage page
(:mod:`.report_coverage`)."""

from __future__ import annotations

from importlib import resources


def css() -> str:
    """The stylesheet's text."""
    return resources.files("conformance.frontends").joinpath("templates/report.css").read_text(
        encoding="utf-8")
