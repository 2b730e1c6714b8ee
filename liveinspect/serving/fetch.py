"""Fetching a small file a job names by URL (its cover image), checked like every other fetch.

The URL and every redirect are checked against the network guard before a
byte is requested, and the body is read only up to a size limit.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

from liveinspect.errors import MediaError
from liveinspect.media.netguard import check_source_url

MAX_REDIRECTS = 3


def fetch_to_file(
    url: str, path: Path, *, max_bytes: int, allow_private: bool, timeout_s: float = 15.0
) -> Path:
    import httpx

    with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_source_url(url, allow_private=allow_private, schemes=("http", "https"))
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise MediaError(f"answered HTTP {response.status_code}", source=url)
                    size = 0
                    with path.open("wb") as out:
                        for chunk in response.iter_bytes():
                            size += len(chunk)
                            if size > max_bytes:
                                raise MediaError(f"is larger than the {max_bytes:,} byte limit", source=url)
                            out.write(chunk)
                    return path
            except httpx.HTTPError as error:
                raise MediaError(f"cannot fetch: {error}", source=url) from error
    raise MediaError(f"more than {MAX_REDIRECTS} redirects", source=url)
