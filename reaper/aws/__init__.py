"""Gateways to AWS: each takes an injected client, or builds one from Settings."""
