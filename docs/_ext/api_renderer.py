"""How the API reference's module pages render (sphinx-autodoc2's MyST renderer, two changes).

* A module page's title is its name inside the package (``formats.nemo_rl``), not the whole
  dotted path, so that titles and sidebar entries are readable and not cut.
* In a module's summary tables, a constant without a docstring shows its value, instead of an
  empty description.
"""

from __future__ import annotations

from autodoc2.render.myst_ import MystRenderer

PACKAGE = "reference_impl"
VALUE_LIMIT = 70


def short_name(full_name: str) -> str:
    """A module's name inside the package.

    >>> short_name("reference_impl.formats.nemo_rl"), short_name("reference_impl")
    ('formats.nemo_rl', 'reference_impl')
    """
    return full_name.removeprefix(PACKAGE + ".")


def value_summary(value) -> str:
    """A constant's value, cut to fit a table cell, as inline code.

    >>> value_summary("another rollout of a task already written")
    "`'another rollout of a task already written'`"
    >>> value_summary(list(range(40)))[-6:]
    '19, …`'
    """
    text = " ".join(repr(value).split())
    if len(text) > VALUE_LIMIT:
        text = text[:VALUE_LIMIT] + " …"
    return "`" + text.replace("`", "'") + "`"


class GuideRenderer(MystRenderer):
    def render_package(self, item):
        title = f"# {{py:mod}}`{item['full_name']}`"
        for line in super().render_package(item):
            yield f"# {{py:mod}}`{short_name(item['full_name'])} <{item['full_name']}>`" if line == title else line

    def generate_summary(self, objects, alias=None):
        bare = {item["full_name"]: item for item in objects if item["type"] == "data" and not (item.get("doc") or "").strip()}
        skipping = False
        for line in super().generate_summary(objects, alias):
            name = line.removeprefix("  - ```{autodoc2-docstring} ")
            if name != line and name in bare:
                yield f"  - {value_summary(bare[name].get('value'))}"
                skipping = True
            elif skipping:
                skipping = line != "    ```"
            else:
                yield line
