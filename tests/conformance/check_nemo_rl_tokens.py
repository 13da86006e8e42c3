"""Run with NeMo RL's source importable: load our token-exact rows with NeMo RL v0.7.0's own data code.

What ``examples/run_sft.py`` (``setup_data``) and ``nemo_rl/algorithms/sft.py`` do with a train dataset,
step by step: ``load_response_dataset`` (``ResponseDataset`` from the JSONL, with our processor, found by
name in ``PROCESSOR_REGISTRY``), ``AllTaskProcessedDataset``, ``rl_collate_fn``, then
``add_loss_mask_to_message_log(roles_to_train_on=["assistant"])`` and
``batched_message_log_to_flat_message``: the ``input_ids`` and ``token_mask`` that the policy trains on.
Prints one JSON object as its last line. Usage: check_nemo_rl_tokens.py TOKENIZER_DIR SFT_TOKENS_JSONL
"""

import json
import sys
from functools import partial

from transformers import AutoTokenizer


def main():
    from nemo_rl.data.collate_fn import rl_collate_fn
    from nemo_rl.data.datasets.processed_dataset import AllTaskProcessedDataset
    from nemo_rl.data.datasets.response_datasets import load_response_dataset
    from nemo_rl.data.llm_message_utils import add_loss_mask_to_message_log, batched_message_log_to_flat_message

    from reference_impl.formats.nemo_rl_token_processor import register

    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    data = load_response_dataset({"dataset_name": "ResponseDataset", "data_path": sys.argv[2],
                                  "processor": register()})
    processor = partial(data.processor, add_bos=True, add_eos=True, add_generation_prompt=False)
    dataset = AllTaskProcessedDataset(data.dataset, tokenizer, None, {data.task_name: (data.task_spec, processor)},
                                      max_seq_length=4096)
    batch = rl_collate_fn([dataset[i] for i in range(len(dataset))])
    add_loss_mask_to_message_log(batch["message_log"], roles_to_train_on=["assistant"])
    flat, lengths = batched_message_log_to_flat_message(batch["message_log"],
                                                        pad_value_dict={"token_ids": tokenizer.pad_token_id})
    rows = []
    for ids, mask, n, log in zip(flat["token_ids"].tolist(), flat["token_loss_mask"].tolist(), lengths.tolist(),
                                 batch["message_log"]):
        logprobs = [p for m in log if "generation_logprobs" in m for p in m["generation_logprobs"].tolist()]
        rows.append({"input_ids": ids[:n], "token_mask": mask[:n], "padding_trained": sum(mask[n:]),
                     "generation_logprobs": logprobs})
    print(json.dumps({"processor": data.processor.__name__, "task_name": data.task_name,
                      "loss_multiplier": batch["loss_multiplier"].tolist(), "rows": rows}))


if __name__ == "__main__":
    main()
