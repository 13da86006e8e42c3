"""Run with .conformance/openrlhf on sys.path: load our files with OpenRLHF 0.11.2's own dataset classes.

Each class gets what `--data.*` flags give it in `openrlhf/cli/train_*.py`: a `strategy` whose
`args.data` holds the dataset keys. Prints, as its last line, a JSON object of what OpenRLHF made.
Usage: check_openrlhf.py TOKENIZER_DIR sft|dpo|rm|prompt FILE...
"""

import json
import sys
from types import SimpleNamespace

from datasets import load_dataset
from transformers import AutoTokenizer


def strategy(**data):
    return SimpleNamespace(args=SimpleNamespace(data=SimpleNamespace(**data)), is_rank_0=lambda: True)


def check(tokenizer, kind, path):
    rows = load_dataset("json", data_files=path, split="train")  # as openrlhf/datasets/utils.py loads .jsonl
    if kind == "sft":
        from openrlhf.datasets import SFTDataset

        dataset = SFTDataset(rows, tokenizer, 1 << 20, strategy(input_key="messages", apply_chat_template=True, multiturn=True),
                             num_processors=1, multiturn=True)
        items = []
        for i in range(len(dataset)):
            input_ids, _, loss_mask = dataset[i]
            ids, mask = input_ids[0].tolist(), loss_mask[0].tolist()
            items.append({"text": tokenizer.decode(ids), "trained": tokenizer.decode([t for t, m in zip(ids, mask) if m])})
        result = {"rows": len(dataset), "items": items}
    elif kind in ("dpo", "rm"):  # train_dpo passes is_dpo=True (extras: prompt lengths); train_rm False (extras: margins)
        from openrlhf.datasets import RewardDataset

        dataset = RewardDataset(rows, tokenizer, 1 << 20, strategy(prompt_key="prompt", chosen_key="chosen", rejected_key="rejected",
                                                                 apply_chat_template=True), is_dpo=kind == "dpo", num_processors=1)
        result = {"rows": len(dataset), "prompts": list(dataset.prompts), "chosen": list(dataset.chosens),
                  "rejected": list(dataset.rejects), "extras": [float(e) for e in dataset.extras]}
    else:
        from openrlhf.datasets import PromptDataset

        dataset = PromptDataset(rows, tokenizer, strategy(input_key="prompt", label_key="label", apply_chat_template=True))
        items = [dataset[i] for i in range(len(dataset))]
        result = {"rows": len(dataset), "datasources": [d for d, _, _, _ in items], "prompts": [p for _, p, _, _ in items],
                  "labels": [label for _, _, label, _ in items]}
    return result


def main():
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    kind = sys.argv[2]
    print(json.dumps({path: check(tokenizer, kind, path) for path in sys.argv[3:]}))


if __name__ == "__main__":
    main()
