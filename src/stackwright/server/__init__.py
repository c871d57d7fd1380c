"""Frontend and interfaces: the app factory that mounts every layer's router."""
