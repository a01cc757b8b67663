"""The base of every spec model: frozen, no unknown fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SPEC_VERSION = 1


class SpecModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
