"""Custom ``scrapy`` commands: ``sites``, ``report``, ``digest`` (and ``crawl`` with clear errors)."""
