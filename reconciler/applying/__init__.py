"""Carrying out a plan: the calls, in dependency order, and their outcome."""
