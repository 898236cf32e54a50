"""The one exception type forge raises for bad input; the CLI prints it as one line.

`first_line` is how another library's error (or a long result) reads inside one of forge's lines.
"""


class ForgeError(Exception):
    """A user-facing error: the message is complete and names the file, line or key."""


class ConfigError(ForgeError):
    """forge.yaml is missing, unparseable or invalid."""


class DatasetError(ForgeError):
    """A dataset file is malformed or a write would break a rule."""


def first_line(error: BaseException | str, width: int = 200) -> str:
    """The first line of an exception's message (or of a text), cut to `width` characters ('' when empty)."""
    return (str(error).splitlines() or [""])[0][:width]
