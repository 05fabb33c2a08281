"""Talking to authentik: the client, the transport policy and reading live state."""
