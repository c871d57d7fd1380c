"""Embedded local models, no network and no extra install: WordLlama embeddings (``local/wordllama``),
an extractive chat model that answers from the context in the messages (``local/extractive``), and,
with the ``gguf`` extra, any GGUF file through llama-cpp-python (``local/gguf``).

Nothing heavy is imported here: numpy, wordllama and llama_cpp load on first use.
"""

from stackwright.local.catalog import BUILTIN_MODELS, builtin_deployment, builtin_models, gguf_available

__all__ = ["BUILTIN_MODELS", "builtin_deployment", "builtin_models", "gguf_available"]
