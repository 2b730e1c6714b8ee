"""Text normalization and lexicon matching for marketing claims and prohibited products."""

from liveinspect.text.lexicon import LexiconMatch, LexiconMatcher, collapse_overlaps
from liveinspect.text.normalize import (NormalizedText, Normalizer, cached_normalizer, normalize,
                                        policy_normalizer)
from liveinspect.text.spans import split_sentences

__all__ = ["LexiconMatch", "LexiconMatcher", "NormalizedText", "Normalizer", "cached_normalizer",
           "collapse_overlaps", "normalize", "policy_normalizer", "split_sentences"]
