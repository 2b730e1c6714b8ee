"""Exceptions that name what went wrong, so callers can report it plainly.

Every error the toolkit raises on bad input derives from `LiveInspectError`;
the CLI maps them to exit code 2 and the HTTP service to a 4xx JSON body.
"""

from __future__ import annotations


class LiveInspectError(Exception):
    """Base class for every error the toolkit raises on purpose."""


class MediaError(LiveInspectError):
    """A source could not be decoded (corrupt, empty, unsupported, too large).

    `stopped_at` is the broadcast time in seconds where a partial decode
    stopped, or None when nothing could be decoded at all.
    """

    def __init__(self, message: str, *, source: str | None = None,
                 stopped_at: float | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.stopped_at = stopped_at

    def __str__(self) -> str:
        text = super().__str__()
        if self.source:
            text = f"{self.source}: {text}"
        if self.stopped_at is not None:
            text += f" (decoding stopped at {self.stopped_at:.2f} s)"
        return text


class UnsafeSourceError(MediaError):
    """A URL (a source, a redirect, a playlist entry) points somewhere it must not be fetched from.

    Raised before any byte is requested: an address on this machine or its
    private network (loopback, RFC 1918, link-local, cloud metadata), a
    multicast or reserved address, or a scheme that is not allowed. The
    message names the URL, the address and the reason; a deployment that
    really serves media on its own network passes `allow_private_urls=True`
    (CLI: `--allow-private-urls`).
    """


class PolicyError(LiveInspectError):
    """A policy file (articles, negative list, claims, ladder) is missing or malformed."""


class WeightsNotFoundError(LiveInspectError):
    """A model's weights are not available locally; the message says how to provide them."""


class CheckpointError(LiveInspectError):
    """A checkpoint is corrupt, has the wrong shapes, or fails its checksum."""


class DataError(LiveInspectError):
    """A training or evaluation dataset is missing, empty or has the wrong columns."""
