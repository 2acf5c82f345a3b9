"""The link stage: collect every link of a page, check each target once per crawl, classify."""

from pipelines.links.pipeline import LinkCheckPipeline

__all__ = ["LinkCheckPipeline"]
