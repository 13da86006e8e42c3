"""VeRL's SFT dataset for the token-exact parquet that ``prepare_for_verl.py --algorithm sft-tokens`` writes.

VeRL 0.9.1's own ``MultiTurnSFTDataset`` (``verl/utils/dataset/multiturn_sft_dataset.py``)
always renders ``messages`` with the chat template and tokenizes them again. This class
reads the ids instead: ``input_ids`` as the policy read and generated them, and
``assistant_masks`` (1 on the generated tokens) as the ``loss_mask``. It returns what
``MultiTurnSFTDataset.__getitem__`` returns, for both of its ``pad_mode`` values
(``right``: ``input_ids``, ``attention_mask``, ``position_ids``, ``loss_mask`` padded to
``max_length``; ``no_padding``: ``input_ids``, ``position_ids``, ``loss_mask``), with the same
``truncation`` rules, so VeRL's ``SFTTensorCollator`` and ``sft_loss``
(``verl/workers/utils/losses.py``, which shifts the mask left by one to align it with the
log-probs) take it as they take their own.

Set it in the SFT trainer's config (``verl/trainer/sft_trainer.py``, ``create_sft_dataset``)::

    data.custom_cls.path=<this file> data.custom_cls.name=NemoGymTokenSFTDataset

VeRL loads the file by path, so it imports nothing from this package: only pandas, torch
and VeRL, which must be installed where it runs.
"""

import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


class NemoGymTokenSFTDataset(Dataset):
    """Token-exact SFT rows as VeRL's SFT trainer reads them.

    Args:
        parquet_files: a parquet file or a list of them (``data.train_files``).
        tokenizer: the policy's tokenizer (only its pad token is used; the ids are not re-made).
        config: ``data``: ``pad_mode``, ``max_length``, ``truncation``.
        processor: unused (text only).
        max_samples: read at most this many rows (-1: all).
    """

    def __init__(self, parquet_files, tokenizer, config, processor=None, max_samples: int = -1):
        from verl.utils.fs import copy_local_path_from_hdfs

        config = config or {}
        self.pad_mode = config.get("pad_mode", "right")
        if self.pad_mode not in ("right", "no_padding"):
            raise ValueError(f"Expect pad_mode to be 'right' or 'no_padding'. Got {self.pad_mode}")
        self.truncation = config.get("truncation", "error")
        if self.truncation not in ("error", "left", "right"):
            raise ValueError(f"Unknown truncation method {self.truncation}")
        self.max_length = config.get("max_length", 1024)
        if isinstance(tokenizer, str):
            from verl.utils import hf_tokenizer

            tokenizer = hf_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        files = [parquet_files] if isinstance(parquet_files, str) else list(parquet_files)
        frame = pd.concat([pd.read_parquet(copy_local_path_from_hdfs(f, verbose=True)) for f in files],
                          ignore_index=True)
        missing = {"input_ids", "assistant_masks"} - set(frame.columns)
        if missing:
            raise ValueError(f"{', '.join(sorted(missing))} missing: write the file with "
                             "prepare_for_verl.py --algorithm sft-tokens")
        if max_samples > 0:
            frame = frame.iloc[:max_samples]
        self.input_ids = [list(map(int, ids)) for ids in frame["input_ids"]]
        self.loss_masks = [list(map(int, mask)) for mask in frame["assistant_masks"]]
        for row, (ids, mask) in enumerate(zip(self.input_ids, self.loss_masks)):
            if len(ids) != len(mask):
                raise ValueError(f"row {row}: {len(ids)} input_ids but {len(mask)} assistant_masks")

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, item: int) -> dict:
        input_ids = torch.tensor(self.input_ids[item], dtype=torch.long)
        loss_mask = torch.tensor(self.loss_masks[item], dtype=torch.long)
        attention_mask = torch.ones_like(input_ids)
        position_ids = torch.arange(input_ids.shape[0], dtype=torch.long)
        length = input_ids.shape[0]
        if length > self.max_length and self.truncation == "error":
            raise ValueError(f"{length=} is larger than {self.max_length=}")
        if self.pad_mode == "no_padding":
            keep = slice(None, self.max_length)
            return {"input_ids": input_ids[keep], "position_ids": position_ids[keep], "loss_mask": loss_mask[keep]}
        if length < self.max_length:
            pad = self.max_length - length
            pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            input_ids = torch.cat((input_ids, torch.full((pad,), pad_id, dtype=input_ids.dtype)))
            attention_mask = torch.cat((attention_mask, torch.zeros(pad, dtype=attention_mask.dtype)))
            loss_mask = torch.cat((loss_mask, torch.zeros(pad, dtype=loss_mask.dtype)))
            position_ids = F.pad(position_ids, (0, pad), value=0)
        elif length > self.max_length:
            keep = slice(-self.max_length, None) if self.truncation == "left" else slice(None, self.max_length)
            input_ids, attention_mask = input_ids[keep], attention_mask[keep]
            loss_mask, position_ids = loss_mask[keep], position_ids[keep]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
                "loss_mask": loss_mask}
