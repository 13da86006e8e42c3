"""Sphinx configuration of the training-integration guide (pages in docs/, build with
``sphinx-build -c . docs _build/html``; ``make docs`` does it)."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DOCS = ROOT / "docs"
sys.path[:0] = [str(ROOT), str(DOCS), str(DOCS / "_ext")]

import reference_impl  # noqa: E402

project = "NeMo Gym Training Integration"
author = "The NeMo Gym training-integration guide authors"
copyright = f"{date.today().year}, {author}"
release = version = reference_impl.__version__

extensions = [
    "myst_parser",
    "sphinx_design",
    "sphinx_copybutton",
    "autodoc2",
    "sphinx.ext.mathjax",
    "run_directive",
]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist", "attrs_inline", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.strikethrough"]

source_suffix = {".md": "markdown"}
root_doc = "index"
default_role = "literal"  # `x` in reST docstrings is code, as in MyST
# Generated fragments are included into pages, never pages of their own (no "<no title>" search hits).
exclude_patterns = ["_build", "**/_generate", "_generated", "_ext", "**/CLAUDE.md", "README.md"]
templates_path = []

# API reference from the package, docstrings parsed as Google style + reST so that
# ">>>" examples render as code.
autodoc2_packages = ["../reference_impl"]
autodoc2_render_plugin = "api_renderer.GuideRenderer"  # readable titles, values for bare constants
autodoc2_output_dir = "apidocs"
autodoc2_docstring_parser_regexes = [(r".*", "google_docstrings")]
autodoc2_hidden_objects = ["private", "inherited", "dunder"]
autodoc2_module_all_regexes = []

nitpicky = True
nitpick_ignore_regex = [
    # Types from the standard library and third-party packages: no intersphinx offline.
    (r"py:.*", r"(typing|collections|collections\.abc|pathlib|argparse|datetime|dataclasses)\..*"),
    (r"py:.*", r"(t\.|Path|Counter|Callable|Iterable|Iterator|Sequence|Any|BinaryIO|Mapping)\b.*"),
    (r"py:.*", r"(pyarrow|pa|orjson|numpy|torch|transformers|datasets|trl|yaml|random|re|array|verl)\b.*"),
    (r"py:.*", r"(str|int|float|bool|dict|list|tuple|bytes|None|object|type|set|frozenset|Exception|ValueError)"),
]

html_theme = "pydata_sphinx_theme"
html_title = "NeMo Gym Training Integration"
html_static_path = ["docs/_static"]
html_css_files = ["custom.css"]
html_js_files = ["scroll-cue.js"]
html_favicon = "docs/_static/favicon.svg"
html_context = {"default_mode": "auto"}
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    # One header row from phone to wide screen: the search is an icon, later sections go under "More".
    "navbar_persistent": ["search-button"],
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# Pages with no pages under them get no "Section Navigation" column (it would be empty).
html_sidebars = {page: [] for page in ("data-quality/index", "rollout-collection/index", "reference/toolchain",
                                       "reference/benchmarks", "reference/gpu-training")}
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_line_continuation_character = "\\"

# Sample outputs, tables and pictures on the pages are made here, from the shipped sample
# rollouts, every time the site is built.
if os.environ.get("DOCS_SKIP_GENERATE") != "1":
    from _generate import generate_all  # noqa: E402

    generate_all(DOCS / "_generated", ROOT / "samples" / "rollouts.jsonl")
