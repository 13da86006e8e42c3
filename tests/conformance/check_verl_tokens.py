"""Run inside .conformance/verl: load our token-exact parquet with VeRL 0.9.1's own SFT code.

The dataset class is loaded from ``data.custom_cls`` (our ``NemoGymTokenSFTDataset``) and built as
``verl/trainer/sft_trainer.py``'s ``create_sft_dataset`` (lines 468-485) does: ``load_extern_object(path, name)``,
then ``dataset_cls(parquet_files=..., tokenizer=..., config=data_config, processor=..., max_samples=...)``
(that module itself needs torchdata, which the conformance environment lacks). It is batched by VeRL's ``SFTTensorCollator`` in both pad modes, and the
``no_padding`` batch goes through VeRL's ``sft_loss`` with made-up log-probs, to see which tokens it
counts. For comparison, VeRL's own ``MultiTurnSFTDataset`` renders the text rows of the same rollouts.
Prints, as its last line, one JSON object; the pytest side asserts on it.
Usage: check_verl_tokens.py TOKENIZER_DIR CUSTOM_CLS_PATH TOKENS_PARQUET TEXT_PARQUET [MORE_TOKENS_PARQUET...]
(each of the others is only loaded and batched, right-padded).
"""

import json
import sys

import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer


def data_config(custom_cls, pad_mode, max_length):
    return OmegaConf.create({"custom_cls": {"path": custom_cls, "name": "NemoGymTokenSFTDataset"},
                             "pad_mode": pad_mode, "max_length": max_length, "truncation": "error",
                             "messages_key": "messages", "tools_key": "tools"})


def create_sft_dataset(data_paths, config, tokenizer, processor, max_samples=-1):
    """verl/trainer/sft_trainer.py's create_sft_dataset, for a config with data.custom_cls."""
    from verl.utils.import_utils import load_extern_object

    dataset_cls = load_extern_object(config.custom_cls.path, config.custom_cls.name)
    return dataset_cls(parquet_files=data_paths, tokenizer=tokenizer, config=config, processor=processor,
                       max_samples=max_samples)


def right_padded(tokenizer, custom_cls, path):
    from verl.utils.dataset.dataset_utils import SFTTensorCollator

    dataset = create_sft_dataset([path], data_config(custom_cls, "right", 2048), tokenizer, None)
    batch = SFTTensorCollator("right")([dataset[i] for i in range(len(dataset))])
    rows = []
    for ids, attention, mask, positions in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(),
                                               batch["loss_mask"].tolist(), batch["position_ids"].tolist()):
        n = sum(attention)
        rows.append({"input_ids": ids[:n], "loss_mask": mask[:n], "padding_trained": sum(mask[n:]),
                     "positions": positions[:n] == list(range(n)), "width": len(ids)})
    return {"class": type(dataset).__name__, "rows": rows}


def no_padding_loss(tokenizer, custom_cls, path):
    """VeRL's sft_loss over the no_padding batch, with log-prob -1 - i/1000 at flat position i."""
    from tensordict import TensorDict
    from verl.utils.dataset.dataset_utils import SFTTensorCollator
    from verl.workers.utils.losses import sft_loss

    dataset = create_sft_dataset([path], data_config(custom_cls, "no_padding", 1 << 20), tokenizer, None)
    batch = SFTTensorCollator("no_padding")([dataset[i] for i in range(len(dataset))])
    lengths = [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
    flat = -1 - torch.arange(sum(lengths), dtype=torch.float64) / 1000
    log_probs = torch.nested.as_nested_tensor(list(flat.split(lengths)), layout=torch.jagged)
    data = TensorDict({"loss_mask": batch["loss_mask"], "dp_size": 1, "batch_num_tokens": 1}, batch_size=[])
    loss, _ = sft_loss(None, {"log_probs": log_probs}, data)
    return {"loss": float(loss), "lengths": lengths}


def verl_text(tokenizer, path):
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    config = OmegaConf.create({"max_length": 1 << 20, "truncation": "error", "messages_key": "messages",
                               "tools_key": "tools", "pad_mode": "no_padding"})
    sys.path.insert(0, str(__import__("pathlib").Path(sys.argv[2]).parent))
    from verl_sft_dataset import NemoGymMultiTurnSFTDataset  # our text custom_cls, beside the token one

    dataset = NemoGymMultiTurnSFTDataset(parquet_files=path, tokenizer=tokenizer, config=config)
    assert isinstance(dataset, MultiTurnSFTDataset)
    return [{"input_ids": dataset[i]["input_ids"].tolist(), "loss_mask": dataset[i]["loss_mask"].tolist()}
            for i in range(len(dataset))]


def main():
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    custom_cls, tokens_path, text_path, more = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    print(json.dumps({"right": right_padded(tokenizer, custom_cls, tokens_path),
                      "no_padding": no_padding_loss(tokenizer, custom_cls, tokens_path),
                      "text": verl_text(tokenizer, text_path),
                      "more": {path: right_padded(tokenizer, custom_cls, path) for path in more}}))


if __name__ == "__main__":
    main()
