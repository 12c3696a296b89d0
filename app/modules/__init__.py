"""Functional OCPI modules: one file per module, holding its Sender and Receiver handlers."""
