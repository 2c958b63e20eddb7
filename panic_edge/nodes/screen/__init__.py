"""The screen node: pygame renderer of a View, and its app loop."""
