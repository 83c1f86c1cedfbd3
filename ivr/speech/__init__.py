"""Speech recognition with Vosk: the grammar of each kind of question, audio, and the service."""
