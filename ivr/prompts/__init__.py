"""Prompts: the texts the hotline speaks, studio recordings, and their rendering to audio."""
