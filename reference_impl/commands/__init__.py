"""The scripts' command lines: one module per script, and what they share ({mod}`reference_impl.commands.common`).

Every script follows one policy for bad input: strict by default (the first malformed
line stops the run with ``file:line: reason``, exit status 1, nothing written), and
``--skip-invalid`` to write the valid records and reject the rest, each with its reason,
into a rejects file beside the output. Flags are spelled with dashes; the underscore
spellings (``--min_reward``) work too.
"""
