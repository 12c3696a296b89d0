"""The hub role (issue 9 §2): a deployment hosting a HUB party routes messages between the parties connected to it
(registry, routing, rules), keeps their HubClientInfo current, checks that they are alive, and copies messages to
service parties that hold a grant."""
