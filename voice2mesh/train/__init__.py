"""Training loops: speaker-ID pretraining of the voice encoder (and, later, the face heads)."""
