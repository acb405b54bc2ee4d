"""The index: takes chunks with their vectors and keeps them (Chroma, bm25s, sentence vectors, language
centroids); gives chunks back by vector, by word or by id, and caches what costs more to build than to read."""

from retrieval.rooms import exports

_NAMES = {
    "ChunkStore": "store",
    "StoreError": "remote",
    "IndexMissingError": "remote",
    "encode_vector": "articles",
    "check_writable": "store",
    "out_of_space": "store",
    "Embedder": "embeddings",
    "EmbedderError": "embeddings",
    "build_embedder": "embeddings",
    "embedder_identity": "embeddings",
    "embedding_dimension": "embeddings",
    "SentenceStore": "sentence_vectors",
    "SentenceVectors": "sentence_vectors",
    "embed_sentences": "sentence_vectors",
    "derived": "derived",
    "Derived": "derived",
    "cached": "cache",
    "entry_name": "cache",
    "source_digest": "cache",
}
__all__ = sorted(_NAMES)
__getattr__ = exports(__name__, _NAMES)
