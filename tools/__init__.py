"""forge.tools: the planner's tools, one file each, each declared once (name, description, schema, run)."""
