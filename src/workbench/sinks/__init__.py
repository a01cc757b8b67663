"""Sinks other than datasets: database tables (:mod:`workbench.sinks.tables`).

``execute.SINKS`` names each sink kind's writer explicitly; nothing here registers itself.
"""

from __future__ import annotations
