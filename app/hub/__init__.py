"""The hub role (issue 9): registry and routing (stream H), HubClientInfo, still-alive and service grants (stream C)."""
