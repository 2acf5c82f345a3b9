"""Item pipelines, one package per stage of the data flow: links, language, store, digest."""
