"""Tables of the prompts layer."""
