"""The token-exact sequence of a rollout: the very ids the policy read and generated.

A model server that returns token information (NeMo Gym's ``vllm_model_for_training.yaml``,
``return_token_id_information: true``) puts three lists on the output item that carries
each model call: ``prompt_token_ids`` (that call's whole prompt), ``generation_token_ids``
and ``generation_log_probs``. That item is not always the last of its call (a message can
be followed by its own ``function_call``), so the items are found by these fields, never by
position.

The build rule, the one NeMo RL asserts online (``nemo_rl/environments/nemo_gym.py``,
v0.7.0, "Non-contiguous messages found!"): walk ``response.output`` in order; for each
call with non-empty ``generation_token_ids``, its ``prompt_token_ids`` must start with the
whole sequence so far (the first prompt, the generations and what came between). The new
tail of the prompt (tool results, user turns, the template's frame) gets mask 0; the
generation gets mask 1 and its log-probs, which must be as many. When the rule fails,
{class}`NotTokenExact` says why, in one of the fixed reasons below, so a run can count them.

This module imports nothing heavy: no tokenizer, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .rollouts import trajectory_items

__all__ = ["TOKEN_FIELDS", "TokenSequence", "NotTokenExact", "token_items", "token_sequence", "segments",
           "id_above_vocabulary", "NO_IDS", "EMPTY_IDS", "NOT_CONTIGUOUS", "LOG_PROB_LENGTH", "BAD_IDS",
           "BAD_LOG_PROBS", "NO_PROMPT_IDS"]

TOKEN_FIELDS = ("prompt_token_ids", "generation_token_ids", "generation_log_probs")
"""The fields a model call's item carries when the model server returns token information."""

NO_IDS = ("no token ids: no output item carries prompt_token_ids / generation_token_ids (collect with a model "
          "server that returns them: return_token_id_information: true, as in vllm_model_for_training.yaml)")
EMPTY_IDS = "empty token ids: the generation_token_ids of every model call are empty"
NO_PROMPT_IDS = "a model call has generation_token_ids but no prompt_token_ids"
NOT_CONTIGUOUS = ("non-contiguous calls: a call's prompt_token_ids do not start with the sequence so far "
                  "(the earlier prompt, generations and what came between)")
LOG_PROB_LENGTH = "a model call's generation_log_probs and generation_token_ids differ in length"
BAD_IDS = "token ids that are not non-negative integers"
BAD_LOG_PROBS = "generation_log_probs that are not finite numbers"


class NotTokenExact(ValueError):
    """The build rule failed; ``reason`` is one of the module's fixed reasons, ``detail``
    says where (which call, which position), for people.

    >>> str(NotTokenExact(EMPTY_IDS, "2 calls"))
    'empty token ids: the generation_token_ids of every model call are empty (2 calls)'
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TokenSequence:
    """A rollout as one token sequence.

    Attributes:
        input_ids: every token, in order: the first prompt, then each call's generation and
            the prompt tail that follows it.
        assistant_masks: 1 on the tokens the policy generated, 0 elsewhere.
        generation_log_probs: the policy's log-prob of each generated token; ``None`` where
            the mask is 0.
        calls: the model calls with a generation.
    """

    input_ids: list[int]
    assistant_masks: list[int]
    generation_log_probs: list[float | None]
    calls: int


def token_items(record: dict) -> list[dict]:
    """The output items that carry token information, in order (found by their fields).

    >>> token_items({"response": {"output": [{"type": "message", "generation_token_ids": [5]},
    ...                                      {"type": "function_call"}]}})
    [{'type': 'message', 'generation_token_ids': [5]}]
    """
    return [item for item in trajectory_items(record)
            if isinstance(item, dict) and any(name in item for name in TOKEN_FIELDS)]


def _ids(value: Any) -> list[int] | None:
    """The value as token ids, or ``None`` when it is not a list of non-negative integers."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return value
    return None


def _log_probs(value: Any) -> list[float] | None:
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return [float(v) for v in value]
    return None


def token_sequence(record: dict) -> TokenSequence:
    """Build the token-exact sequence of a rollout by the contiguity rule.

    Args:
        record: a rollout record (``response.output`` holds the model calls' items).

    Returns:
        The {class}`TokenSequence`.

    Raises:
        NotTokenExact: the record has no token ids, only empty ones, malformed ones, log-probs
            of another length, or a call that does not continue the sequence so far.

    >>> call_1 = {"type": "function_call", "prompt_token_ids": [1, 2], "generation_token_ids": [3, 4],
    ...           "generation_log_probs": [-0.5, -0.25]}
    >>> result = {"type": "function_call_output", "output": "7"}
    >>> call_2 = {"type": "message", "prompt_token_ids": [1, 2, 3, 4, 8, 9], "generation_token_ids": [5],
    ...           "generation_log_probs": [-1.0]}
    >>> seq = token_sequence({"response": {"output": [call_1, result, call_2]}})
    >>> seq.input_ids, seq.assistant_masks
    ([1, 2, 3, 4, 8, 9, 5], [0, 0, 1, 1, 0, 0, 1])
    >>> seq.generation_log_probs
    [None, None, -0.5, -0.25, None, None, -1.0]
    >>> token_sequence({"response": {"output": [call_1, {**call_2, "prompt_token_ids": [1, 2, 8, 9]}]}})
    Traceback (most recent call last):
    ...
    reference_impl.tokens.NotTokenExact: non-contiguous calls: a call's prompt_token_ids do not start with the sequence so far (the earlier prompt, generations and what came between) (call 2 of 2 differs from the sequence so far at position 2 of 4)
    """
    items = token_items(record)
    if not items:
        raise NotTokenExact(NO_IDS)
    input_ids: list[int] = []
    masks: list[int] = []
    log_probs: list[float | None] = []
    calls = [item for item in items if item.get("generation_token_ids")]
    if not calls:
        raise NotTokenExact(EMPTY_IDS, f"{len(items)} {'item' if len(items) == 1 else 'items'} with token fields")
    for number, item in enumerate(calls, start=1):
        where = f"call {number} of {len(calls)}"
        prompt, generation = _ids(item.get("prompt_token_ids")), _ids(item.get("generation_token_ids"))
        if prompt is None or generation is None:
            raise NotTokenExact(BAD_IDS, where)
        generated_log_probs = _log_probs(item.get("generation_log_probs"))
        if generated_log_probs is None:
            raise NotTokenExact(BAD_LOG_PROBS, where)
        if not prompt:
            raise NotTokenExact(NO_PROMPT_IDS, where)
        if len(generated_log_probs) != len(generation):
            raise NotTokenExact(LOG_PROB_LENGTH, f"{where}: {len(generated_log_probs)} log-probs for "
                                                 f"{len(generation)} tokens")
        if prompt[: len(input_ids)] != input_ids:
            at = next((i for i, (a, b) in enumerate(zip(prompt, input_ids)) if a != b), min(len(prompt), len(input_ids)))
            raise NotTokenExact(NOT_CONTIGUOUS, f"{where} differs from the sequence so far at position {at} of "
                                                f"{len(input_ids)}")
        tail = prompt[len(input_ids):]
        input_ids += tail + generation
        masks += [0] * len(tail) + [1] * len(generation)
        log_probs += [None] * len(tail) + generated_log_probs
    return TokenSequence(input_ids, masks, log_probs, len(calls))


def segments(sequence: TokenSequence) -> list[tuple[int, list[int], list[float | None]]]:
    """The sequence cut into runs of one mask value: ``(mask, ids, log_probs)``.

    What came between the generations (mask 0) alternates with what the policy generated
    (mask 1), as NeMo RL's message log alternates ``user`` and ``assistant`` messages.

    >>> segments(TokenSequence([1, 2, 3, 4, 5], [0, 0, 1, 0, 1], [None, None, -0.5, None, -1.0], 2))
    [(0, [1, 2], [None, None]), (1, [3], [-0.5]), (0, [4], [None]), (1, [5], [-1.0])]
    """
    runs: list[tuple[int, list[int], list[float | None]]] = []
    for token, mask, log_prob in zip(sequence.input_ids, sequence.assistant_masks, sequence.generation_log_probs):
        if not runs or runs[-1][0] != mask:
            runs.append((mask, [], []))
        runs[-1][1].append(token)
        runs[-1][2].append(log_prob)
    return runs


def id_above_vocabulary(ids: list[int], vocab_size: int) -> int | None:
    """The first id that is not below the vocabulary size, or ``None``.

    >>> id_above_vocabulary([3, 1200, 7], 1024)
    1200
    >>> id_above_vocabulary([3, 7], 1024) is None
    True
    """
    return next((token for token in ids if token >= vocab_size), None)
