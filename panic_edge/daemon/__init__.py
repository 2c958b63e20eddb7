"""The async shell: the daemon that drives the pure core with real I/O."""
