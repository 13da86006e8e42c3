"""Responses-API items to chat messages, and Responses-API tools to chat-completions tool schemas.

NeMo Gym speaks the OpenAI *Responses* API: a prompt is a list of input items and a
trajectory is a list of output items (``message``, ``reasoning``, ``function_call``,
``function_call_output``). Trainers speak *chat messages*, the shape that Hugging Face
chat templates render:

* ``{"role": "system" | "user" | "assistant" | "tool", "content": str}``;
* an assistant turn that calls tools carries ``tool_calls``:
  ``[{"id": ..., "type": "function", "function": {"name": ..., "arguments": {...}}}]``;
* a tool result is ``{"role": "tool", "tool_call_id": ..., "name": ..., "content": str}``;
* the model's reasoning stays on its assistant turn as ``reasoning_content`` (or is dropped).

Everything a chat message cannot hold (images, audio, MCP or shell items) is dropped and
counted in the ``dropped`` counter that the functions take, never lost by accident.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

import orjson

from .rollouts import prompt_input, trajectory_items

__all__ = [
    "MessageOptions",
    "content_text",
    "input_to_messages",
    "items_to_messages",
    "prompt_messages",
    "rollout_messages",
    "with_instructions",
    "prompt_media",
    "assistant_runs",
    "tool_call_arguments",
    "chat_tool_schema",
    "chat_tool_schemas",
]

TEXT_PART_TYPES = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


@dataclass(frozen=True)
class MessageOptions:
    """How to render a trajectory as chat messages.

    Attributes:
        reasoning: ``"keep"`` puts reasoning on the assistant turn as ``reasoning_content``;
            ``"drop"`` leaves it out.
        arguments: ``"object"`` parses tool-call arguments into a dict (what Hugging Face
            templates such as Qwen2.5's expect, since they call ``tojson`` on them);
            ``"string"`` keeps the JSON string as the Responses API stores it.
        developer_as_system: map the ``developer`` role to ``system`` (chat templates
            know only ``system``).
    """

    reasoning: str = "keep"
    arguments: str = "object"
    developer_as_system: bool = True


def content_text(content: Any, dropped: Counter | None = None) -> str:
    """The text of a message's ``content``: a string, or the text parts of a list of parts.

    Parts that carry no text (``input_image``, ``input_audio``, ``input_file``...) are
    dropped and counted as ``"<type> part"`` in ``dropped``.

    Args:
        content: a string, a list of content parts, or ``None``.
        dropped: a counter to add dropped parts to.

    Returns:
        The text, parts joined without a separator.

    >>> content_text([{"type": "output_text", "text": "4", "annotations": []}])
    '4'
    >>> c = Counter()
    >>> content_text([{"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": "data:..."}], c)
    'What is this?'
    >>> c
    Counter({'input_image part': 1})
    >>> content_text(False, c), c["bool content"]
    ('', 1)
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):  # a number or a boolean where text belongs: not text
        if dropped is not None:
            dropped[f"{type(content).__name__} content"] += 1
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in TEXT_PART_TYPES and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif dropped is not None:
            kind = part.get("type", "untyped") if isinstance(part, dict) else type(part).__name__
            dropped[f"{kind} part"] += 1
    return "".join(texts)


def tool_call_arguments(arguments: Any, as_object: bool = True) -> Any:
    """Tool-call arguments as a trainer wants them.

    The Responses API stores arguments as a JSON string. Hugging Face chat templates
    call ``tojson`` on them, so they want an object; a string that is not a JSON object
    (a model's malformed call) is kept as the string it was.

    >>> tool_call_arguments('{"city": "Paris"}')
    {'city': 'Paris'}
    >>> tool_call_arguments('{"city": "Par')
    '{"city": "Par'
    >>> tool_call_arguments({"city": "Paris"}, as_object=False)
    '{"city":"Paris"}'
    """
    if as_object:
        if isinstance(arguments, str):
            try:
                parsed = orjson.loads(arguments)
            except orjson.JSONDecodeError:
                return arguments
            return parsed if isinstance(parsed, dict) else arguments
        return arguments if arguments is not None else {}
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def _role(role: str, options: MessageOptions) -> str:
    if role == "developer" and options.developer_as_system:
        return "system"
    return role


def _reasoning_text(item: dict) -> str:
    parts = item.get("summary")
    parts = parts if isinstance(parts, list) else []
    text = "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    if not text:
        text = content_text(item.get("content"))
    return text


def items_to_messages(
    items: Iterable[dict],
    options: MessageOptions = MessageOptions(),
    dropped: Counter | None = None,
) -> list[dict]:
    """Convert Responses-API items (input or output) into chat messages, in order.

    * a ``message`` item becomes a message with its role and its text;
    * ``function_call`` items join the assistant turn they follow (one model call's text and
      calls, parallel calls together) as ``tool_calls``, or open an assistant turn of their own;
    * ``reasoning`` belongs to the model call it is part of: it goes on that call's assistant
      turn as ``reasoning_content``, whether it comes before the turn's text or calls or after
      them (some environments log it after the ``function_call``); reasoning that no assistant
      turn of its call follows or precedes (a thought cut off by ``max_output_tokens``) is
      dropped and counted;
    * ``function_call_output`` becomes a ``tool`` message with the call's id and name;
    * an assistant turn left with no text, no call and no reasoning (an empty message, as
      automationbench ends with) is not a turn: it is dropped and counted;
    * anything else is dropped and counted as ``"<type> item"``.

    Args:
        items: Responses-API items.
        options: see {class}`MessageOptions`.
        dropped: a counter for what was left out.

    Returns:
        A list of chat messages.

    >>> items_to_messages([
    ...     {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Use the tool."}]},
    ...     {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    ...     {"type": "function_call_output", "call_id": "c1", "output": "22C"},
    ...     {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is 22C."}]},
    ... ])  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'assistant', 'content': '', 'reasoning_content': 'Use the tool.',
      'tool_calls': [{'id': 'c1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': {'city': 'Paris'}}}]},
     {'role': 'tool', 'tool_call_id': 'c1', 'name': 'get_weather', 'content': '22C'},
     {'role': 'assistant', 'content': 'It is 22C.'}]

    Reasoning logged after its call stays with the call, and an empty last message is no turn:

    >>> c = Counter()
    >>> items_to_messages([
    ...     {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ...     {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Call f first."}]},
    ...     {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ...     {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]},
    ... ], dropped=c)  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'assistant', 'content': '', 'tool_calls': [{'id': 'c1', 'type': 'function',
      'function': {'name': 'f', 'arguments': {}}}], 'reasoning_content': 'Call f first.'},
     {'role': 'tool', 'tool_call_id': 'c1', 'name': 'f', 'content': 'ok'}]
    >>> c
    Counter({'empty assistant message': 1})
    """
    messages: list[dict] = []
    pending_reasoning: list[str] = []
    call_names: dict[str, str] = {}
    open_assistant: dict | None = None  # the assistant turn of the current model call, while it is the last message

    def take_reasoning(message: dict) -> None:
        if pending_reasoning and options.reasoning == "keep":
            message["reasoning_content"] = "\n".join(filter(None, [message.get("reasoning_content"), *pending_reasoning]))
        pending_reasoning.clear()

    def close_call() -> None:
        """A user, system or tool message ends the model call: its reasoning goes on its turn."""
        nonlocal open_assistant
        if open_assistant is not None and open_assistant is messages[-1]:
            take_reasoning(open_assistant)
        open_assistant = None

    def new_assistant(text: str) -> dict:
        message: dict = {"role": "assistant", "content": text}
        take_reasoning(message)
        messages.append(message)
        return message

    for item in items:
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            text = content_text(item.get("content"), dropped)
            if role == "assistant":
                open_assistant = new_assistant(text)
            elif role in ("user", "system", "developer"):
                close_call()
                messages.append({"role": _role(role, options), "content": text})
            else:
                if dropped is not None:
                    dropped[f"message with role {role!r}"] += 1
        elif kind == "reasoning":
            text = _reasoning_text(item)
            if text:
                pending_reasoning.append(text)
            if options.reasoning == "drop" and dropped is not None:
                dropped["reasoning item"] += 1
        elif kind == "function_call":
            call_id = item.get("call_id") or item.get("id") or f"call_{len(call_names)}"
            name = item.get("name", "")
            call_names[call_id] = name
            if open_assistant is None or open_assistant is not messages[-1]:
                open_assistant = new_assistant("")
            else:
                take_reasoning(open_assistant)
            open_assistant.setdefault("tool_calls", []).append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": tool_call_arguments(item.get("arguments"), options.arguments == "object"),
                    },
                }
            )
        elif kind == "function_call_output":
            close_call()
            call_id = item.get("call_id", "")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "name": call_names.get(call_id, ""),
                    "content": content_text(item.get("output"), dropped),
                }
            )
        else:
            if dropped is not None:
                dropped[f"{kind} item"] += 1
    close_call()
    if pending_reasoning and dropped is not None:
        dropped["reasoning with no assistant turn after it"] += 1
    return _without_empty_assistant_turns(messages, dropped)


def _without_empty_assistant_turns(messages: list[dict], dropped: Counter | None) -> list[dict]:
    kept = [m for m in messages if m["role"] != "assistant" or (m["content"] and not m["content"].isspace())
            or m.get("tool_calls")
            or m.get("reasoning_content")]
    if len(kept) < len(messages) and dropped is not None:
        dropped["empty assistant message"] += len(messages) - len(kept)
    return kept


def input_to_messages(
    value: str | list, options: MessageOptions = MessageOptions(), dropped: Counter | None = None
) -> list[dict]:
    """Convert ``responses_create_params.input`` (a bare string or a list of items) into chat messages.

    >>> input_to_messages("What is 2+2?")
    [{'role': 'user', 'content': 'What is 2+2?'}]
    >>> input_to_messages([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]
    """
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return items_to_messages(value, options, dropped)


def with_instructions(prompt: list[dict], instructions: Any) -> list[dict]:
    """The prompt with ``responses_create_params.instructions`` merged in, as NeMo Gym sends it.

    The Responses API puts ``instructions`` first in the model's context. NeMo Gym's
    converter (``nemo_gym/responses_converter.py``, from 0.5.0) makes them one system message
    with the prompt's leading system and developer messages, joined by a blank line: chat
    templates take one system message, first.

    >>> with_instructions([{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Hi"}], "Be brief.")
    [{'role': 'system', 'content': 'Be brief.\\n\\nUse tools.'}, {'role': 'user', 'content': 'Hi'}]
    >>> with_instructions([{"role": "user", "content": "Hi"}], None)
    [{'role': 'user', 'content': 'Hi'}]
    """
    if not (isinstance(instructions, str) and instructions):
        return prompt
    leading = 0
    while leading < len(prompt) and prompt[leading]["role"] in ("system", "developer"):
        leading += 1
    merged = "\n\n".join([instructions, *(m["content"] for m in prompt[:leading])])
    return [{"role": "system", "content": merged}, *prompt[leading:]]


def rollout_messages(
    record: dict, options: MessageOptions = MessageOptions(), dropped: Counter | None = None
) -> tuple[list[dict], list[dict]]:
    """The prompt and the trajectory of a rollout record, as chat messages.

    Args:
        record: a rollout record.
        options: see {class}`MessageOptions`.
        dropped: a counter for what was left out.

    Returns:
        ``(prompt_messages, trajectory_messages)``; their concatenation is the whole
        conversation.

    >>> prompt, trajectory = rollout_messages({
    ...     "responses_create_params": {"input": "What is 2+2?"},
    ...     "response": {"output": [{"type": "message", "role": "assistant",
    ...                              "content": [{"type": "output_text", "text": "4"}]}]},
    ... })
    >>> prompt + trajectory
    [{'role': 'user', 'content': 'What is 2+2?'}, {'role': 'assistant', 'content': '4'}]
    """
    prompt = prompt_messages(record, options, dropped)
    trajectory = items_to_messages(trajectory_items(record), options, dropped)
    return prompt, trajectory


def prompt_messages(record: dict, options: MessageOptions = MessageOptions(), dropped: Counter | None = None) -> list[dict]:
    """The prompt of a rollout record as chat messages: its input, with its instructions merged in.

    >>> prompt_messages({"responses_create_params": {"input": "What is 2+2?", "instructions": "Be brief."}})
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'What is 2+2?'}]
    """
    prompt = input_to_messages(prompt_input(record), options, dropped)
    return with_instructions(prompt, (record.get("responses_create_params") or {}).get("instructions"))


MEDIA_PART_TYPES = frozenset({"input_image", "input_audio", "input_file", "input_video", "image_url", "image"})
"""Content parts that carry no text: a chat message of text cannot hold them."""


def prompt_media(record: dict) -> Counter:
    """The parts of a rollout's prompt that are not text (images, audio, files), by type.

    A prompt without them is not the prompt the model saw: text formats skip such records
    unless asked to keep them (``--keep-imageless``).

    >>> prompt_media({"responses_create_params": {"input": [{"role": "user", "content": [
    ...     {"type": "input_text", "text": "How many circles?"}, {"type": "input_image", "image_url": "data:..."}]}]}})
    Counter({'input_image': 1})
    >>> prompt_media({"responses_create_params": {"input": "What is 2+2?"}})
    Counter()
    """
    found: Counter = Counter()
    value = prompt_input(record)
    for item in value if isinstance(value, list) else []:
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") in MEDIA_PART_TYPES:
                found[part["type"]] += 1
    return found


def assistant_runs(messages: list[dict]) -> int:
    """How many times an assistant turn follows another with nothing between them.

    One model call makes one assistant turn, and the next call follows a tool result or a
    user turn. Turns back to back mean the record lacks what came between the calls (osworld
    keeps no screenshots, langgraph agents keep only each node's answer): it is flagged, not
    changed.

    >>> assistant_runs([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
    ...                 {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}])
    2
    """
    return sum(1 for a, b in zip(messages, messages[1:]) if a["role"] == b["role"] == "assistant")


def chat_tool_schema(tool: dict) -> dict | None:
    """A Responses-API function tool as a chat-completions tool schema.

    NeMo Gym keeps tools flat (``{"type": "function", "name", "parameters", ...}``);
    Hugging Face templates, TRL, VeRL and NeMo RL's ``openai_format`` want them nested
    under ``function``. A schema that is nested already passes through; a tool that is
    not a function tool (``web_search``, ``mcp``...) gives ``None``.

    >>> chat_tool_schema({"type": "function", "name": "calculate", "description": "Do maths.",
    ...                   "parameters": {"type": "object", "properties": {}}, "strict": True})
    {'type': 'function', 'function': {'name': 'calculate', 'description': 'Do maths.', 'parameters': {'type': 'object', 'properties': {}}}}
    """
    if tool.get("type", "function") != "function":
        return None
    if isinstance(tool.get("function"), dict):
        return {"type": "function", "function": tool["function"]}
    function = {"name": tool.get("name", "")}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def chat_tool_schemas(record: dict, dropped: Counter | None = None) -> list[dict]:
    """All function tools of a rollout record (``responses_create_params.tools``) as chat-completions schemas.

    >>> chat_tool_schemas({"responses_create_params": {"tools": [{"type": "web_search"}]}}, c := Counter())
    []
    >>> c
    Counter({'web_search tool': 1})
    """
    tools = (record.get("responses_create_params") or {}).get("tools") or []
    schemas = []
    for tool in tools:
        schema = chat_tool_schema(tool)
        if schema is None:
            if dropped is not None:
                dropped[f"{tool.get('type')} tool"] += 1
        else:
            schemas.append(schema)
    return schemas
