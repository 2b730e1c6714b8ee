"""Whisper's tokenizer for runtimes without openai-whisper: the exported token table, decoding only.

A runtime that decodes never encodes text: every text-to-token lookup
decoding needs (the blank that may not start a transcript, the non-speech
symbols that are suppressed) is done once at export and stored with the
special tokens in `tokenizer.json`. Decoding needs only each token's bytes,
which `vocab.tiktoken` (openai-whisper's own table: base64 bytes and rank
per line, rank = token id) holds. So this needs neither tiktoken nor torch.

`WhisperTokenizer` answers what `WhisperEngine`, the word timing and the
ONNX runner ask of openai-whisper's `Tokenizer`: `decode`,
`decode_with_timestamps`, `split_to_word_tokens`, `sot_sequence`, the
special token ids, `all_language_tokens`, `non_speech_tokens`.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from liveinspect.errors import CheckpointError

FORMAT = "liveinspect-whisper-tokenizer/1"
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.tiktoken"
# Languages written without spaces: words are split wherever the tokens decode to whole characters.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


class WhisperVocabulary:
    """The token table of one Whisper model, as exported beside its graphs."""

    def __init__(self, token_bytes: list[bytes], specials: list[str], *, multilingual: bool,
                 languages: list[str], blank: list[int], non_speech: list[int]) -> None:
        self.token_bytes = token_bytes
        self.specials = specials
        self.special_ids = {name: len(token_bytes) + i for i, name in enumerate(specials)}
        self.special_bytes = [name.encode("utf-8") for name in specials]
        self.multilingual = multilingual
        self.languages = languages
        self.blank = list(blank)
        self.non_speech = list(non_speech)
        for needed in ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|0.00|>"):
            if needed not in self.special_ids:
                raise CheckpointError(f"tokenizer has no {needed} token; re-export the model")

    @classmethod
    def load(cls, folder: str | Path) -> WhisperVocabulary:
        folder = Path(folder)
        meta_path, vocab_path = folder / TOKENIZER_FILE, folder / VOCAB_FILE
        for path in (meta_path, vocab_path):
            if not path.is_file():
                raise CheckpointError(f"{path} is missing; export the Whisper model with "
                                      "`liveinspect export --models whisper` (it writes both files)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        token_bytes = read_tiktoken(vocab_path)
        if len(token_bytes) != meta["base_vocab"]:
            raise CheckpointError(f"{vocab_path} has {len(token_bytes)} tokens, {meta_path} says "
                                  f"{meta['base_vocab']}: the two files are from different models")
        return cls(token_bytes, list(meta["specials"]), multilingual=bool(meta["multilingual"]),
                   languages=list(meta["languages"]), blank=meta["blank"], non_speech=meta["non_speech"])

    @property
    def size(self) -> int:
        return len(self.token_bytes) + len(self.specials)

    def token_to_bytes(self, token: int) -> bytes:
        base = len(self.token_bytes)
        return self.token_bytes[token] if token < base else self.special_bytes[token - base]

    def tokenizer(self, language: str | None, task: str | None) -> WhisperTokenizer:
        if not self.multilingual:
            language, task = None, None  # English-only models have no language or task tokens
        else:
            language, task = language or "en", task or "transcribe"
            if language not in self.languages:
                raise CheckpointError(f"this Whisper model knows no language {language!r}")
        return WhisperTokenizer(self, language, task)


def read_tiktoken(path: Path) -> list[bytes]:
    """Token bytes by id from a `.tiktoken` file (one `base64 rank` per line, ranks 0..n-1)."""
    table: dict[int, bytes] = {}
    with open(path, encoding="ascii") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                encoded, rank = line.split()
                table[int(rank)] = base64.b64decode(encoded)
            except ValueError as error:
                raise CheckpointError(f"{path}:{number}: not a `base64 rank` line") from error
    if sorted(table) != list(range(len(table))):
        raise CheckpointError(f"{path}: token ranks are not 0..{len(table) - 1}")
    return [table[i] for i in range(len(table))]


@dataclass
class WhisperTokenizer:
    """openai-whisper's `Tokenizer` interface over a `WhisperVocabulary` (decoding side only)."""

    vocabulary: WhisperVocabulary
    language: str | None
    task: str | None
    sot_sequence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        sequence = [self.sot]
        if self.language is not None:
            sequence.append(self.to_language_token(self.language))
        if self.task is not None:
            sequence.append(self.transcribe if self.task == "transcribe" else self.translate)
        self.sot_sequence = tuple(sequence)

    def _special(self, name: str) -> int:
        return self.vocabulary.special_ids[name]

    @cached_property
    def eot(self) -> int:
        return self._special("<|endoftext|>")

    @cached_property
    def sot(self) -> int:
        return self._special("<|startoftranscript|>")

    @cached_property
    def transcribe(self) -> int:
        return self._special("<|transcribe|>")

    @cached_property
    def translate(self) -> int:
        return self._special("<|translate|>")

    @cached_property
    def sot_lm(self) -> int:
        return self._special("<|startoflm|>")

    @cached_property
    def sot_prev(self) -> int:
        return self._special("<|startofprev|>")

    @cached_property
    def no_speech(self) -> int | None:
        return self.vocabulary.special_ids.get("<|nospeech|>")

    @cached_property
    def no_timestamps(self) -> int:
        return self._special("<|notimestamps|>")

    @cached_property
    def timestamp_begin(self) -> int:
        return self._special("<|0.00|>")

    @cached_property
    def sot_sequence_including_notimestamps(self) -> tuple[int, ...]:
        return (*self.sot_sequence, self.no_timestamps)

    def to_language_token(self, language: str) -> int:
        token = self.vocabulary.special_ids.get(f"<|{language}|>")
        if token is None:
            raise KeyError(f"Language {language} not found in tokenizer.")
        return token

    @cached_property
    def all_language_tokens(self) -> tuple[int, ...]:
        return tuple(self.vocabulary.special_ids[f"<|{code}|>"] for code in self.vocabulary.languages)

    @cached_property
    def all_language_codes(self) -> tuple[str, ...]:
        return tuple(self.vocabulary.languages)

    @cached_property
    def non_speech_tokens(self) -> tuple[int, ...]:
        return tuple(self.vocabulary.non_speech)

    @cached_property
    def blank_tokens(self) -> tuple[int, ...]:
        """The tokens of " " (openai-whisper's `encode(" ")`): suppressed as a transcript's start."""
        return tuple(self.vocabulary.blank)

    def decode(self, token_ids: list[int]) -> str:
        return self.decode_with_timestamps([t for t in token_ids if t < self.timestamp_begin])

    def decode_with_timestamps(self, token_ids: list[int]) -> str:
        data = b"".join(self.vocabulary.token_to_bytes(int(t)) for t in token_ids)
        return data.decode("utf-8", errors="replace")

    def split_to_word_tokens(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        if self.language in UNSPACED_LANGUAGES:
            return self.split_tokens_on_unicode(tokens)
        return self.split_tokens_on_spaces(tokens)

    def split_tokens_on_unicode(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Cut wherever the tokens so far decode to whole characters (a multi-byte character split
        over tokens decodes to U+FFFD until its last byte arrives)."""
        full = self.decode_with_timestamps(tokens)
        words: list[str] = []
        word_tokens: list[list[int]] = []
        current: list[int] = []
        offset = 0
        for token in tokens:
            current.append(token)
            decoded = self.decode_with_timestamps(current)
            broken = decoded.find("\ufffd")
            # A U+FFFD that the whole text has too is a real one, not half a character.
            if broken < 0 or full[offset + broken] == "\ufffd":
                words.append(decoded)
                word_tokens.append(current)
                current = []
                offset += len(decoded)
        return words, word_tokens

    def split_tokens_on_spaces(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Whole characters joined into words: a piece starting with a space, a punctuation mark or
        a special token starts a new word."""
        subwords, subword_tokens = self.split_tokens_on_unicode(tokens)
        words: list[str] = []
        word_tokens: list[list[int]] = []
        for subword, pieces in zip(subwords, subword_tokens, strict=True):
            starts_word = (pieces[0] >= self.eot or subword.startswith(" ")
                           or subword.strip() in string.punctuation or not words)
            if starts_word:
                words.append(subword)
                word_tokens.append(pieces)
            else:
                words[-1] += subword
                word_tokens[-1].extend(pieces)
        return words, word_tokens
