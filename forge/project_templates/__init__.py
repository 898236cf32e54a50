"""Files `forge init` writes into a new project ({name} is replaced by the project name)."""
