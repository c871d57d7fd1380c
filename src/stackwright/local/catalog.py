"""The built-in local models: the names clients can ask for with no gateway configuration."""

from __future__ import annotations

from importlib.util import find_spec

from stackwright.gateway.providers.base import Deployment

PROVIDER_NAME = "local"
CHAT = "chat"
EMBEDDING = "embedding"

# client-facing name -> (kind, deployment.model understood by LocalProvider)
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "local/extractive": (CHAT, "extractive"),
    "local/wordllama": (EMBEDDING, "wordllama"),
}
GGUF_MODELS: dict[str, tuple[str, str]] = {"local/gguf": (CHAT, "gguf")}
LOCAL_MODEL_KINDS: dict[str, str] = {model: kind for kind, model in (BUILTIN_MODELS | GGUF_MODELS).values()}


def gguf_available() -> bool:
    """Whether llama-cpp-python is installed (found, not imported: importing it loads the native library)."""
    return find_spec("llama_cpp") is not None


def builtin_models() -> dict[str, tuple[str, str]]:
    """The built-in local models, ``local/gguf`` only when the ``gguf`` extra is installed."""
    return BUILTIN_MODELS | GGUF_MODELS if gguf_available() else dict(BUILTIN_MODELS)


def builtin_deployment(name: str) -> Deployment | None:
    """A deployment serving built-in model ``name`` (e.g. ``local/extractive``), None if it is not one."""
    entry = builtin_models().get(name)
    if entry is None:
        return None
    return Deployment(id=name, provider=PROVIDER_NAME, model=entry[1])


def describe_local_models() -> str:
    """A one-line list of the local models, for error messages."""
    return (
        "Local models: local/extractive (chat), local/wordllama (embeddings), "
        "local/gguf (chat, with the gguf extra); a local deployment's model is extractive, wordllama or gguf."
    )
