"""The benchmark behind ``scripts/bench``: served sites, a bare reference spider, and a probe.

Nothing here is part of a crawl in production; the probe extension is added only by the bench.
"""
