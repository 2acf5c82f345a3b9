"""The store stage: pages and findings into PostgreSQL, and the crawl's record when it ends."""

from pipelines.store.pipeline import StorePipeline
from pipelines.store.recorder import CrawlRecorder

__all__ = ["CrawlRecorder", "StorePipeline"]
