"""Sovereignty: the envelope byte format and the placement policy (pure)."""
