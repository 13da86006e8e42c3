"""The scripts' command lines, under the names the scripts and tests have always imported.

Each script's command line lives in a module of its own in {mod}`reference_impl.commands`
(``prepare``, ``prepare_many``, ``filter``, ``validate``, ``stats``), and what they share in
{mod}`reference_impl.commands.common`; this module only gathers their names.
"""

from __future__ import annotations

from .commands.common import (INTERNAL_ERROR, NEEDS_RAY, NEEDS_TRANSFORMERS, BadOutput, add_convert_arguments,  # noqa: F401
                              add_io_arguments, add_record_filter_arguments, check_inputs, fail, filter_options_from_args,
                              filters_given, flag, format_output, nothing_to_write_hint, options_from_args,
                              quiet_broken_pipe, report_malformed, reports_internal_errors, run_and_report)
from .commands.filter import filter_main, filter_parser  # noqa: F401
from .commands.prepare import prepare_main, prepare_parser  # noqa: F401
from .commands.prepare_many import parse_to, prepare_many_main, prepare_many_parser  # noqa: F401
from .commands.stats import stats_main, stats_parser  # noqa: F401
from .commands.validate import validate_main, validate_parser  # noqa: F401

__all__ = ["flag", "add_io_arguments", "add_convert_arguments", "add_record_filter_arguments", "prepare_parser",
           "options_from_args", "format_output", "prepare_main", "prepare_many_main", "parse_to", "fail",
           "report_malformed", "filter_main", "validate_main", "stats_main", "INTERNAL_ERROR"]
