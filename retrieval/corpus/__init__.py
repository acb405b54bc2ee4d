"""The corpus: takes a folder of article files; gives cleaned Articles cut into Chunks, ingested into the
index incrementally, one ingest at a time."""

from retrieval.rooms import exports

_NAMES = {
    "ingest": "ingestion",
    "IngestReport": "ingestion",
    "CorpusError": "loading",
    "IngestLockError": "locking",
    "ingest_running": "locking",
}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
