"""Front ends: renderings of :class:`~conformance.result.Verdict` for people and CI.

``cli`` dispatches ``python -m conformance COMMAND`` to ``cmd_<command>`` modules; the
pytest plugin (``pytest11`` entry point), the avocado recipe, and the text/TAP/HTML
reports all sit here.  Nothing below this package imports it.
"""
