#!/usr/bin/env python3
"""Regenerates gateway/prices/model_prices.json, the gateway's shipped price table.

The table is a subset of LiteLLM's model price file (MIT licence), the de-facto public format for
LLM prices: the chat, completion, responses and embedding models of the providers the gateway
speaks to, with the fields the gateway reads. The file keeps LiteLLM's format, so an operator can
point `gateway.price_file` at LiteLLM's full file (or their own) instead.

    python3 -m pip download --no-deps litellm==1.110.2 -d DIR
    python3 scripts/prices.py DIR/litellm-1.110.2-*.whl
"""

import json
import sys
import zipfile
from pathlib import Path

SOURCE = "litellm/model_prices_and_context_window_backup.json"
PROVIDERS = {
    "anthropic", "azure", "cohere", "cohere_chat", "deepseek", "gemini", "groq", "mistral",
    "openai", "openrouter", "text-completion-openai", "together_ai", "xai",
}
MODES = {"chat", "completion", "embedding", "responses"}
FIELDS = [
    "litellm_provider", "mode", "input_cost_per_token", "output_cost_per_token",
    "cache_read_input_token_cost", "cache_creation_input_token_cost", "max_input_tokens",
    "max_output_tokens",
]


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        full = json.loads(z.read(SOURCE))
    table = {
        model: {f: entry[f] for f in FIELDS if f in entry}
        for model, entry in full.items()
        if isinstance(entry, dict)
        and entry.get("litellm_provider") in PROVIDERS
        and entry.get("mode") in MODES
        and "input_cost_per_token" in entry
    }
    out = Path(__file__).resolve().parent.parent / "gateway" / "prices" / "model_prices.json"
    out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"{len(table)} models from {Path(wheel).name} -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
