"""VeRL's ``MultiTurnSFTDataset`` for the parquet files ``prepare_for_verl.py --algorithm sft`` writes.

Parquet keeps one schema per file. Tool schemas and tool-call arguments differ from row to
row, so a struct column would null-fill each with the others' keys, and chat templates
would render those ``null``\\ s. Our writer stores ``tools`` and ``arguments`` as JSON strings
(one type for every row); this class, a subclass of VeRL 0.9.1's own
(``verl/utils/dataset/multiturn_sft_dataset.py``), decodes them and drops the ``None`` keys
that struct unification adds to messages, before VeRL renders and masks the conversation.

Set it in the SFT trainer's config::

    data.custom_cls.path=<this file> data.custom_cls.name=NemoGymMultiTurnSFTDataset

VeRL loads the file by path (``load_extern_object``), so it imports nothing from this
package: only ``json`` and VeRL itself, which must be installed where it runs.
"""

import json

from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset


def _missing(value) -> bool:
    """``None``, or pandas' ``NA`` (VeRL reads parquet with ``dtype_backend="pyarrow"``)."""
    return value is None or type(value).__name__ == "NAType"


def _decoded(value):
    """A JSON string decoded; anything else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def clean_message(message: dict) -> dict:
    """A message without the keys parquet filled with ``None``, tool-call arguments decoded."""
    message = {key: value for key, value in message.items() if not _missing(value)}
    if message.get("tool_calls"):
        message["tool_calls"] = [
            {**call, "function": {**call["function"], "arguments": _decoded(call["function"].get("arguments"))}}
            for call in message["tool_calls"]
        ]
    else:
        message.pop("tool_calls", None)
    return message


class NemoGymMultiTurnSFTDataset(MultiTurnSFTDataset):
    """``MultiTurnSFTDataset`` that reads ``tools`` and tool-call arguments stored as JSON strings."""

    def _read_files_and_process(self):
        super()._read_files_and_process()
        if self.tools is not None:
            self.tools = [None if _missing(tools) else _decoded(tools) for tools in self.tools]
            self.tools = [tools if isinstance(tools, list) else None for tools in self.tools]

    def _build_messages(self, example: dict):
        return [clean_message(message) for message in super()._build_messages(example)]
