"""Flawless has one spider, ``site``: it crawls one registered site."""
