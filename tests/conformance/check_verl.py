"""Run inside .conformance/verl: load our parquet files with VeRL 0.9.1's own dataset classes.

Prints, as its last line, one JSON object with what VeRL made of the files (VeRL prints its own
lines before it); the pytest side asserts on it.
Usage: check_verl.py TOKENIZER_DIR CUSTOM_CLS_PATH rl|sft FILE...
"""

import json
import sys

from omegaconf import OmegaConf
from transformers import AutoTokenizer


def check_rl(tokenizer, path):
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 1 << 20, "truncation": "error",
                               "filter_overlong_prompts": False, "return_raw_chat": True,
                               "cache_dir": "/tmp/verl-cache", "filter_overlong_prompts_workers": 1})
    dataset = RLHFDataset(data_files=[path], tokenizer=tokenizer, config=config)
    items = [dataset[i] for i in range(len(dataset))]
    return {"rows": len(dataset),
            "raw_prompts": [list(map(dict, item["raw_prompt"])) for item in items],
            "ground_truths": [item["reward_model"]["ground_truth"] for item in items],
            "data_sources": [item["data_source"] for item in items],
            "indexes": [int(item["index"]) for item in items]}


def check_sft(tokenizer, path, custom_cls_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("nemo_gym_verl_sft", custom_cls_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = OmegaConf.create({"max_length": 1 << 20, "truncation": "error", "messages_key": "messages",
                               "tools_key": "tools", "pad_mode": "no_padding"})
    dataset = module.NemoGymMultiTurnSFTDataset(parquet_files=path, tokenizer=tokenizer, config=config)
    rows = []
    for i in range(len(dataset)):
        item = dataset[i]
        ids, mask = item["input_ids"].tolist(), item["loss_mask"].tolist()
        rows.append({"text": tokenizer.decode(ids), "trained": tokenizer.decode([t for t, m in zip(ids, mask) if m])})
    return {"rows": len(dataset), "items": rows}


def main():
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    custom_cls, kind, paths = sys.argv[2], sys.argv[3], sys.argv[4:]
    if kind == "rl":
        print(json.dumps({path: check_rl(tokenizer, path) for path in paths}))
    else:
        print(json.dumps({path: check_sft(tokenizer, path, custom_cls) for path in paths}))


if __name__ == "__main__":
    main()
