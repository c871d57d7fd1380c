"""Tables of the releases layer."""
