"""The store stage: pages and findings into PostgreSQL, and the crawl's record when it ends."""

from pipelines.store.pipeline import StorePipeline

__all__ = ["StorePipeline"]
