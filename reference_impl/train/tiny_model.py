"""A tiny chat model built offline, so the whole guide runs without downloading one.

A byte-level BPE tokenizer trained with ``tokenizers`` on the text of your rollouts, a
ChatML chat template that renders tools, tool calls, tool results and reasoning and marks
the assistant turns with ``{% generation %}`` (what ``assistant_only_loss`` needs), and a
randomly initialised ``Qwen2ForCausalLM`` of a few hundred thousand parameters. It learns
nothing useful; it lets every trainer run, on a CPU, in seconds. For real training pass a
Hugging Face id or a local folder to the same code instead.

Imports ``transformers`` and ``tokenizers``: not part of the light data path.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "rollout_texts", "build_tokenizer", "build_model", "make_tiny_model"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML, as Qwen2.5 writes it, with {% generation %} around what the assistant says.
# Tool-call arguments may be an object (rendered with tojson) or a JSON string (as is).
# No whitespace control: the template has no layout whitespace to strip. transformers renders
# with trim_blocks, which eats a newline right after a tag, hence the {{ '\\n' }}.
CHAT_TEMPLATE = (
    "{% if tools %}"
    "<|im_start|>system\n"
    "{% if messages and messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}{{ '\\n' }}</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags.<|im_end|>\n"
    "{% elif messages and messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'system' %}"
    "{% if not loop.first %}<|im_start|>system\n{{ message.content }}<|im_end|>\n{% endif %}"
    "{% elif message.role == 'user' %}"
    "<|im_start|>user\n{{ message.content }}<|im_end|>\n"
    "{% elif message.role == 'assistant' %}"
    "<|im_start|>assistant\n"
    "{% generation %}"
    "{% if message.reasoning_content %}<think>\n{{ message.reasoning_content }}\n</think>\n\n{% endif %}"
    "{{ message.content or '' }}"
    "{% for call in message.tool_calls or [] %}"
    "{% if loop.first and message.content %}{{ '\\n' }}{% endif %}"
    "<tool_call>\n{\"name\": \"{{ call.function.name }}\", \"arguments\":"
    "{% if call.function.arguments is string %} {{ call.function.arguments }}"
    "{% else %} {{ call.function.arguments | tojson }}{% endif %}}\n</tool_call>"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endgeneration %}"
    "{% elif message.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _heavy(name: str):
    """Import a heavy library when it is needed (and keep static analysers, such as the API
    reference's, from following it)."""
    return importlib.import_module(name)


def rollout_texts(paths: Iterable[str | Path]) -> Iterator[str]:
    """The text of rollout files, record by record: prompts, trajectories and tool schemas.

    Bad lines are passed over: a tokenizer's corpus needs no record to be perfect.
    """
    import orjson

    from ..messages import chat_tool_schemas, rollout_messages
    from ..rollouts import Rollout, iter_rollouts

    for path in paths:
        for item in iter_rollouts(path):
            if not isinstance(item, Rollout):
                continue
            prompt, trajectory = rollout_messages(item.record)
            for message in prompt + trajectory:
                yield message.get("content") or ""
                if message.get("reasoning_content"):
                    yield message["reasoning_content"]
                for call in message.get("tool_calls") or []:
                    yield orjson.dumps(call["function"]).decode()
            for tool in chat_tool_schemas(item.record):
                yield orjson.dumps(tool).decode()


def build_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained on ``texts``, with the ChatML chat template.

    Args:
        texts: the training corpus (strings).
        vocab_size: the vocabulary size to aim for; a small corpus gives fewer.

    Returns:
        A ``transformers.PreTrainedTokenizerFast``.
    """
    tok = _heavy("tokenizers")
    Tokenizer, decoders, models, pre_tokenizers, trainers = (
        tok.Tokenizer, tok.decoders, tok.models, tok.pre_tokenizers, tok.trainers)
    PreTrainedTokenizerFast = _heavy("transformers").PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Teach it the template's own words too.
    frame = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>",
             "# Tools", "<tools>", "</tools>", '{"name": ', '"arguments": ', "system", "user", "assistant"]
    tokenizer.train_from_iterator(_with(texts, frame), trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=None, eos_token="<|im_end|>",
                                      pad_token="<|endoftext|>", unk_token=None)
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def _with(texts: Iterable[str], extra: list[str]) -> Iterator[str]:
    yield from extra
    yield from texts


def build_model(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                max_positions: int = 4096, seed: int = 0):
    """A randomly initialised ``Qwen2ForCausalLM`` sized for ``tokenizer``.

    The defaults make a model of a few hundred thousand parameters; the same architecture
    at ``hidden_size=896, layers=24, heads=14, kv_heads=2`` is Qwen2.5-0.5B's shape.
    """
    torch = _heavy("torch")
    transformers = _heavy("transformers")

    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 4,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    return transformers.Qwen2ForCausalLM(config)


def make_tiny_model(output: str | Path, data: Iterable[str | Path], vocab_size: int = 1024, **model_size) -> Path:
    """Build the tokenizer from rollout files and a tiny model, and save both into ``output``.

    Returns:
        The folder, usable wherever a model id is (``from_pretrained``, the trainers' ``model=``).
    """
    output = Path(output)
    tokenizer = build_tokenizer(rollout_texts(data), vocab_size)
    model = build_model(tokenizer, **model_size)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tokenizer.save_pretrained(output)
    model.save_pretrained(output)
    return output
