"""The ``{run}`` directive: a page's command and, under it, what that very command printed.

````markdown
```{run}
python scripts/prepare_for_verl.py --input rollouts.jsonl --output train.parquet --algorithm grpo
```
````

While the site is built, the commands of a page's ``{run}`` blocks run in page order, in one
fresh folder per page (see ``page_commands``); each block renders as a console transcript:
``$ <the command as written>`` and the lines it printed. Since the command text on the page
is the text that ran, the two cannot disagree. Option ``:returncode: N`` shows a command
that is meant to fail (a build fails on any other exit status); ``:show: PATH`` shows, under
the transcript, a file that the commands wrote (a config, a report).

Pages with ``{run}`` blocks are read again on every build, so their outputs follow the code.
With ``DOCS_SKIP_GENERATE=1`` (the link check) commands are shown but not run.
"""

from __future__ import annotations

import os
import shutil

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from pathlib import Path

from page_commands import make_workdir, run_command, shown_file, split_commands, transcript

WORKDIR_KEY = "run_directive_workdir"


class RunDirective(SphinxDirective):
    has_content = True
    option_spec = {"returncode": directives.nonnegative_int, "show": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        commands = split_commands("\n".join(self.content))
        if not commands:
            raise self.error("{run} needs at least one command")
        self.env.run_directive_pages = getattr(self.env, "run_directive_pages", set()) | {self.env.docname}
        execute = os.environ.get("DOCS_SKIP_GENERATE") != "1"
        if execute and WORKDIR_KEY not in self.env.temp_data:
            self.env.temp_data[WORKDIR_KEY] = make_workdir()
        parts = []
        for i, command in enumerate(commands):
            expect = self.options.get("returncode", 0) if i == len(commands) - 1 else 0
            try:
                printed = run_command(command, self.env.temp_data[WORKDIR_KEY], expect) if execute else ""
            except AssertionError as error:
                raise self.error(f"{self.env.docname}: {error}") from None
            parts.append(transcript(command, printed))
        text = "\n\n".join(parts)
        block = nodes.literal_block(text, text, language="console", classes=["run-transcript"])
        self.set_source_info(block)
        if "show" not in self.options:
            return [block]
        path = self.options["show"]
        shown = shown_file(self.env.temp_data[WORKDIR_KEY], path) if execute else ""
        language = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".jsonl": "json"}.get(Path(path).suffix, "text")
        file_block = nodes.literal_block(shown, shown, language=language, classes=["run-file"])
        self.set_source_info(file_block)
        caption = nodes.paragraph("", "", nodes.Text("The "), nodes.literal(path, path),
                                  nodes.Text(" that this command wrote:"), classes=["run-file-name"])
        return [block, caption, file_block]


def _clean_workdir(app, doctree) -> None:
    workdir = app.env.temp_data.pop(WORKDIR_KEY, None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_again(app, env, added, changed, removed) -> list[str]:
    return sorted(getattr(env, "run_directive_pages", set()) - set(removed) - set(added) - set(changed))


def _purge(app, env, docname) -> None:
    getattr(env, "run_directive_pages", set()).discard(docname)


def _merge(app, env, docnames, other) -> None:
    env.run_directive_pages = getattr(env, "run_directive_pages", set()) | (
        getattr(other, "run_directive_pages", set()) & set(docnames))


def setup(app):
    app.add_directive("run", RunDirective)
    app.connect("doctree-read", _clean_workdir)
    app.connect("env-get-outdated", _read_again)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
