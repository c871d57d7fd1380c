"""OpenAI chat request -> Anthropic Messages request."""

from __future__ import annotations

from typing import Any

import orjson

from stackwright.gateway.providers.base import BAD_REQUEST, Deployment, ProviderError

DEFAULT_MAX_TOKENS = 4096
_PASSED_AS_IS = ("temperature", "top_p", "top_k", "metadata", "thinking", "service_tier")
_JSON_ONLY = "Respond with a single JSON object and nothing else: no prose, no code fences."


def to_anthropic(deployment: Deployment, body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat body. Parameters Anthropic has no equivalent for
    (seed, logprobs, penalties...) are dropped; ``n`` > 1 is refused."""
    if (body.get("n") or 1) > 1:
        raise _bad("Anthropic models return one choice per request; send n=1.")
    system, messages = _messages(body.get("messages") or [])
    system += _response_format_instruction(body.get("response_format"))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    request: dict[str, Any] = {
        "model": body.get("model") or deployment.model,
        "max_tokens": max_tokens or deployment.options.get("max_tokens") or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        request["system"] = "\n\n".join(system)
    for key in _PASSED_AS_IS:
        if body.get(key) is not None:
            request[key] = body[key]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("user") and "metadata" not in request:
        request["metadata"] = {"user_id": str(body["user"])}
    if body.get("tools"):
        request["tools"] = [_tool(tool) for tool in body["tools"]]
    tool_choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if tool_choice and request.get("tools"):
        request["tool_choice"] = tool_choice
    if stream:
        request["stream"] = True
    return request


def _messages(openai_messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts, and the turns as Anthropic messages: consecutive turns of one role are merged,
    tool results become ``tool_result`` blocks of a user turn."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in openai_messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"))
        elif role == "assistant":
            blocks = _assistant_blocks(message)
        elif role == "tool":
            blocks = [_tool_result(message)]
            role = "user"
        else:
            raise _bad(f"messages with role {role!r} cannot be sent to an Anthropic model.")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            previous = turns[-1]["content"]
            if role == "user" and blocks[0]["type"] == "tool_result":  # tool results open a user turn
                turns[-1]["content"] = (
                    [b for b in previous if b["type"] == "tool_result"]
                    + blocks
                    + [b for b in previous if b["type"] != "tool_result"]
                )
            else:
                previous.extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url") or {}))
        else:
            raise _bad(f"content parts of type {kind!r} cannot be sent to an Anthropic model.")
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = _text_of(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": _arguments(function.get("arguments"), function.get("name")),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    if not message.get("tool_call_id"):
        raise _bad("a tool message needs the tool_call_id of the call it answers.")
    content = message.get("content")
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    if isinstance(content, list):
        result["content"] = [{"type": "text", "text": p["text"]} for p in content if p.get("type") == "text"]
    else:
        result["content"] = content if content is not None else ""
    return result


def _image(image_url: dict[str, Any]) -> dict[str, Any]:
    url = image_url.get("url") or ""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0]
        if ";base64" not in header or not media_type:
            raise _bad("image data URLs must be base64 encoded with a media type (data:image/png;base64,...).")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if not url:
        raise _bad("an image_url part needs a url.")
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise _bad(f"tools of type {tool.get('type')!r} cannot be sent to an Anthropic model; use function tools.")
    function = tool.get("function") or {}
    converted = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    converted: dict[str, Any] | None
    if choice is None:
        converted = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        converted = {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        converted = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        raise _bad(f"tool_choice {choice!r} has no Anthropic equivalent.")
    if converted is not None and parallel is False:
        converted["disable_parallel_tool_use"] = True
    return converted


def _response_format_instruction(response_format: Any) -> list[str]:
    """Anthropic has no JSON mode: ``json_object`` and ``json_schema`` become a system instruction."""
    if not isinstance(response_format, dict) or response_format.get("type") in (None, "text"):
        return []
    if response_format["type"] == "json_object":
        return [_JSON_ONLY]
    if response_format["type"] == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return [f"{_JSON_ONLY} The object must match this JSON schema: {orjson.dumps(schema).decode()}"]
    raise _bad(f"response_format type {response_format['type']!r} has no Anthropic equivalent.")


def _arguments(arguments: Any, name: Any) -> Any:
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise _bad(f"the arguments of the earlier call to tool {name!r} are not valid JSON.") from None


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or p.get("refusal") or "" for p in content if p.get("type") in ("text", "refusal"))


def _bad(message: str) -> ProviderError:
    return ProviderError(BAD_REQUEST, message, status=400)
