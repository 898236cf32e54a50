"""forge.yaml, typed and documented once.

fields: the dataclasses, one docstring a key; schema: their JSON Schema and per-key docs (feeds
--help, the init template, docs/config.md); load: reading, validating and patching forge.yaml;
render: the reference as Markdown; yaml_edit: comment-preserving edits (ruamel.yaml).
"""
