"""The web UI: server-rendered pages over the layers' services (sign-in, traces, the eight answers)."""
