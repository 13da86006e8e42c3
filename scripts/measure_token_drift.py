#!/usr/bin/env python3
"""Count the rollouts a text pipeline re-tokenizes differently from what the policy generated, beside sft-tokens."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, help="rollouts with token ids (samples/token_rollouts.jsonl)")
    parser.add_argument("--tokenizer", help="the tokenizer the ids come from (default: the tiny model's, trained on "
                                            "samples/rollouts.jsonl)")
    args = parser.parse_args(argv)
    import orjson

    from reference_impl.token_drift import measure_drift
    from reference_impl.token_samples import QWEN3_LIKE_TEMPLATE, sample_tokenizer

    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = sample_tokenizer()
    with open(args.input, "rb") as handle:
        records = [orjson.loads(line) for line in handle if line.strip()]
    lines = ["| pipeline | renders with | rows | input_ids differ | trained tokens differ | "
             "beyond the end-of-turn newline |", "| --- | --- | --- | --- | --- | --- |"]
    for pipeline, template_name, template, exact in (
            ("text (TRL, assistant_only_loss)", "the tokenizer's template", None, False),
            ("text (TRL, assistant_only_loss)", "Qwen3-like template (drops earlier reasoning)", QWEN3_LIKE_TEMPLATE, False),
            ("token-exact (sft-tokens)", "nothing: the recorded ids", None, True)):
        drift = measure_drift(records, tokenizer, template, token_exact=exact)
        lines.append(f"| {pipeline} | {template_name} | {drift.rows} | {drift.ids_differ} | {drift.trained_differ} | "
                     f"{drift.content_differ} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
