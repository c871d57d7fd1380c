"""Security and governance: projects, users, roles, API keys, audit log."""
