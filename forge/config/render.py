"""Human views of the config definitions: the commented forge.yaml template and the Markdown reference."""

from __future__ import annotations

import textwrap

import yaml

from forge.config.schema import defaults, field_docs, section_docs


def _scalar(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def render_yaml(name: str, values: dict | None = None) -> str:
    """A fully commented forge.yaml holding every field at its default, but `values` ({section: {key: value}})."""
    data = defaults()
    data["name"] = name
    for section, fields in (values or {}).items():
        data[section].update(fields)
    sections = section_docs()
    out = [
        "# forge.yaml: this project's configuration. Every value shown is the default, but the ones",
        "# `forge init` set; `forge config docs` prints the reference. Unknown keys are rejected.",
        "",
    ]
    current = None
    for key, type_name, _default, text in field_docs():
        parts = key.split(".")
        if len(parts) == 1:
            out += [f"# {line}" for line in textwrap.wrap(text, 94)]
            out += [f"{key}: {_scalar(data[key])}", ""]
            continue
        section, leaf = parts[0], parts[1]
        if len(parts) == 3:  # a key of an optional section, null by default: shown, commented out
            out += [f"  #   # {line}" for line in textwrap.wrap(text, 88)]
            out.append(f"  #   {parts[2]}: {_scalar(_default)}")
            continue
        if section != current:
            if current is not None:
                out.append("")
            out += [f"# {sections[section]}", f"{section}:"]
            current = section
        out += [f"  # {line}" for line in textwrap.wrap(text, 92)]
        if type_name == "mapping/null" and data[section][leaf] is None:
            out.append(f"  {leaf}: null  # or a mapping of these keys:")
            continue
        out.append(f"  {leaf}: {_scalar(data[section][leaf])}")
    return "\n".join(out) + "\n"


def render_markdown() -> str:
    """The forge.yaml reference as a Markdown table per section (docs/config.md's reference block)."""
    sections = section_docs()
    out, current = [], None
    for key, type_name, default, text in field_docs():
        section = key.split(".")[0] if "." in key else ""
        if section != current:
            title = f"`{section}` — {sections[section]}" if section else "top level"
            out += ["", f"#### {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
            current = section
        cells = [f"`{key}`", type_name.replace("|", " \\| "), f"`{_scalar(default)}`", text.replace("|", "\\|")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out).strip() + "\n"
