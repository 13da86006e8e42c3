"""A docutils parser for the package's docstrings: Google style (Args, Returns...) through
napoleon, MyST roles ({func}`x`) turned into their reST spelling, then reST.

sphinx-autodoc2 hands each docstring to the parser named in
``autodoc2_docstring_parser_regexes``; with this one, ``>>>`` examples render as doctest
blocks (code), not block quotes, and Args/Returns become field lists.
"""

from __future__ import annotations

import re

from docutils.parsers.rst import Parser as RstParser
from sphinx.ext.napoleon import Config
from sphinx.ext.napoleon.docstring import GoogleDocstring

_MYST_ROLE = re.compile(r"\{(func|class|meth|mod|data|attr|exc|obj|ref|doc)\}`")
_CONFIG = Config(napoleon_use_param=True, napoleon_use_rtype=True, napoleon_use_ivar=True)


def to_rst(text: str) -> str:
    """A Google-style docstring with MyST roles, as reST.

    >>> print(to_rst("Read it.\\n\\nArgs:\\n    path: see {func}`open`.\\n"))
    Read it.
    <BLANKLINE>
    :param path: see :func:`open`.
    <BLANKLINE>
    """
    return str(GoogleDocstring(_MYST_ROLE.sub(r":\1:`", text), _CONFIG))


class Parser(RstParser):
    """reST parser that first converts Google-style sections and MyST roles."""

    def parse(self, inputstring, document):
        super().parse(to_rst(inputstring), document)
