"""The one exception type forge raises for bad input; the CLI prints it as one line."""


class ForgeError(Exception):
    """A user-facing error: the message is complete and names the file, line or key."""


class ConfigError(ForgeError):
    """forge.yaml is missing, unparseable or invalid."""


class DatasetError(ForgeError):
    """A dataset file is malformed or a write would break a rule."""
