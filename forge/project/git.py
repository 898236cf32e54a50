"""The project's git repository (gitpython): init, and commits of chosen paths."""

from __future__ import annotations

from pathlib import Path

from forge.errors import ForgeError

FALLBACK_NAME, FALLBACK_EMAIL = "forge", "forge@localhost"


def _actor(repo):
    from git import Actor

    reader = repo.config_reader()
    name = reader.get_value("user", "name", default="") or FALLBACK_NAME
    email = reader.get_value("user", "email", default="") or FALLBACK_EMAIL
    return Actor(name, email)


def open_repo(root: Path):
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ForgeError(f"{root}: not a git repository (forge init creates one)") from None


def init_and_commit(root: Path, paths: list[str], message: str) -> str:
    import git

    repo = git.Repo(root) if (root / ".git").exists() else git.Repo.init(root)
    repo.index.add([p for p in paths if (root / p).exists()])
    actor = _actor(repo)
    return repo.index.commit(message, author=actor, committer=actor).hexsha


def commit_paths(root: Path, paths: list[str], message: str) -> str | None:
    """Stage `paths` (additions, changes and deletions) and commit; None when nothing changed."""
    repo = open_repo(root)
    existing = [p for p in paths if (root / p).exists()]
    if existing:
        repo.git.add("--all", "--", *existing)
    gone = [p for p in paths if not (root / p).exists() and repo.git.ls_files("--", p)]
    if gone:
        repo.git.rm("-r", "--cached", "--quiet", "--", *gone)
    if repo.head.is_valid() and not repo.index.diff("HEAD"):
        return None
    actor = _actor(repo)
    return repo.index.commit(message, author=actor, committer=actor).hexsha
