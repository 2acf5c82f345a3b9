"""Flawless: crawl registered websites for broken links, spelling and grammar mistakes."""

__version__ = "0.1.0"
