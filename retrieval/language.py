"""Language identification with py3langid's bundled model (no download)."""

from __future__ import annotations


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language ("und" when there is too little text to tell)."""
    import py3langid  # loads its model on first use, so imported only when needed

    sample = text[:4000].strip()
    if len(sample) < 3:
        return "und"
    code, _ = py3langid.classify(sample)
    return str(code)
