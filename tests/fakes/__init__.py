"""Test doubles that speak the real protocols over loopback: Slack's Web API, Socket Mode, Lambda Invoke."""
