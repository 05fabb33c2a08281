"""The API model of each authentik version: kinds, identity, fresh-install defaults."""
