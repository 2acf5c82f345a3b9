"""Downloader middlewares: the address guard (and, later, the trap guard)."""
