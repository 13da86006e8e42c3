"""Run with .conformance/nemo_gym's Python: NeMo Gym's own converter on each request of a file.

Each input line is ``{"params": <responses_create_params>}``; its ``input`` holds the prompt and
then the trajectory, as the agent sends the model server the conversation so far. The converter is
``nemo_gym/responses_converter.py`` as the pinned wheel ships it (setup_envs.sh takes it and
``openai_utils.py`` from the wheel into SRC); the model server calls
``ResponsesConverter.responses_to_chat_completion_create_params`` on the validated request.
Writes one line per input line to OUT: ``{"messages": [...]}`` (what the model server would send)
or ``{"error": "<type>: <message>"}`` when NeMo Gym rejects or cannot convert the request.
Usage: check_nemo_gym.py SRC IN.jsonl OUT.jsonl
"""

import json
import sys
import types


def load_converter(src: str):
    # openai_utils imports five names from nemo_gym.server_utils (HTTP client helpers, with aiohttp,
    # ray and fastapi behind them); the converter uses none of them, so they are stubbed here.
    package = types.ModuleType("nemo_gym")
    package.__path__ = [f"{src}/nemo_gym"]
    server_utils = types.ModuleType("nemo_gym.server_utils")
    for name in ("_GLOBAL_AIOHTTP_CLIENT_REQUEST_DEBUG", "MAX_NUM_TRIES", "ClientResponse", "get_response_json",
                 "raise_for_status", "request"):
        setattr(server_utils, name, None)
    sys.modules.update({"nemo_gym": package, "nemo_gym.server_utils": server_utils})
    from nemo_gym.openai_utils import NeMoGymResponseCreateParamsNonStreaming
    from nemo_gym.responses_converter import ResponsesConverter

    return NeMoGymResponseCreateParamsNonStreaming, ResponsesConverter(return_token_id_information=False)


def main(src: str, inputs: str, outputs: str) -> None:
    Params, converter = load_converter(src)
    with open(inputs) as lines, open(outputs, "w") as out:
        for line in lines:
            try:
                params = Params.model_validate(json.loads(line)["params"])
                chat = converter.responses_to_chat_completion_create_params(params)
                result = {"messages": [dict(m) for m in chat.model_dump(mode="json", exclude_none=True)["messages"]]}
            except Exception as error:  # NeMo Gym rejects the request: that is a result, recorded
                message = " | ".join(str(error).splitlines()[:8])
                result = {"error": f"{type(error).__name__}: {message}"}
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
