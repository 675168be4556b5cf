"""The errors of model files, and the short quotes of file contents that their messages use."""
import json


class ModelFileError(ValueError):
    """A model file that cannot be read: damaged, tampered, from a newer convnp, or not ours."""


class Malformed(Exception):
    """A problem with a file's contents; ``load`` adds the path and raises ModelFileError."""


def short(value, limit=120):
    """``value`` as JSON (repr if it is not JSON), cut to ``limit`` characters for a message."""
    try:
        text = json.dumps(value, default=lambda o: f"<{type(o).__name__}>")
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
