"""Checks of values shared by several catalogs (rewards, causes, badges)."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from gamification.errors import InvalidInput

MAX_IMAGE_URL_LENGTH: Final = 500


def check_image_url(url: str) -> str:
    """Raises InvalidInput unless `url` is empty or an http(s) URL of reasonable length."""
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or len(url) > MAX_IMAGE_URL_LENGTH
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or not c.isprintable() for c in url)
    ):
        raise InvalidInput(
            f"imageUrl must be an http(s) URL of at most {MAX_IMAGE_URL_LENGTH} characters, or "
            "empty",
            field="imageUrl",
        )
    return url
