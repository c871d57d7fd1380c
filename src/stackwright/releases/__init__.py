"""Release controls: routes per environment pointing at configs, canary/A-B/shadow, promotion, rollback."""
