"""The hub role (issue 9 §2): a deployment hosting a HUB party routes messages between the parties connected to it."""
