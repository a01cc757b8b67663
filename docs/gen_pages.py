"""Pages made at build time from the code itself, so they cannot drift from it:
the CLI reference from the argument parser, the YAML reference from the JSON Schema, and the
example notebooks copied in for mkdocs-jupyter to render."""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

from workbench.cli.docgen import cli_reference, yaml_reference

ROOT = Path(__file__).resolve().parents[1]

with mkdocs_gen_files.open("reference/cli.md", "w") as f:
    f.write(cli_reference())
with mkdocs_gen_files.open("reference/yaml.md", "w") as f:
    f.write(yaml_reference())
for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    with mkdocs_gen_files.open(f"notebooks/{nb.name}", "wb") as f:
        f.write(nb.read_bytes())
