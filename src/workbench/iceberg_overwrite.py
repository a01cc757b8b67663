"""The overwrite snapshot of a version, without the deletions of every earlier overwrite.

pyiceberg 0.12's overwrite writes a manifest of the files it removes (their "deleted"
entries), and the next overwrite carries that manifest into its own snapshot: it reads the
manifest's live entries, finds none it deletes, and keeps it as it is. A dataset replaced every
day therefore has one more manifest in its current snapshot each day, each one read by every
later commit (twice: once for the files to delete, once for the manifests to keep) and by every
engine that plans a scan of the table. On S3 that is one GET per manifest per read: after ten
versions the commit of a 200 MB ingest took 1.4 s, most of it reading manifests that list no
file. (iceberg-go fixed the same carry-over: apache/iceberg-go#1153.)

A manifest whose counts say it lists no added and no existing file describes no file of the
table any more; its deletions belong to the snapshot that made them, which keeps it. The
overwrite here neither reads such a manifest nor carries it forward; a manifest without counts
(written by another tool that left them out) is read, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# heavy optional dependency, imported by iceberg.commit_snapshot on first use
from pyiceberg.manifest import ManifestFile
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _OverwriteFiles


def lists_live_files(manifest: ManifestFile) -> bool:
    """Whether the manifest may list a file of its snapshot (counts missing: it may)."""
    return manifest.has_added_files() or manifest.has_existing_files()


class _LiveOverwrite(_OverwriteFiles):
    def _build_manifest_evaluator(self, spec_id: int) -> Callable[[ManifestFile], bool]:
        # the evaluator decides which manifests are read for files to delete: one that lists
        # no live file holds none
        matches = super()._build_manifest_evaluator(spec_id)
        return lambda m: lists_live_files(m) and matches(m)

    def _existing_manifests(self) -> list[ManifestFile]:
        return [m for m in super()._existing_manifests()
                if lists_live_files(m) or m.added_snapshot_id == self._snapshot_id]


def overwrite(update: Any) -> _OverwriteFiles:
    """``update.overwrite()`` (``update``: a transaction's ``update_snapshot(...)``), carrying
    only the manifests that still list a file."""
    tx = update._transaction
    exists = tx.table_metadata.snapshot_by_name(name=update._branch) is not None
    return _LiveOverwrite(operation=Operation.OVERWRITE if exists else Operation.APPEND,
                          transaction=tx, io=update._io, branch=update._branch,
                          snapshot_properties=update._snapshot_properties)
