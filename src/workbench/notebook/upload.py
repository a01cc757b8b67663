"""``wb.upload_form()``: pick a file, name the dataset, press Ingest, watch the job.

Two ways in, chosen by where datasets are stored:

* **object storage** (S3/R2) with ``anywidget`` installed: the browser PUTs the file straight to
  the bucket through presigned URLs (multipart above 100 MB), with a byte progress bar; the kernel
  never holds the bytes. It then confirms the upload and ingests it.
* **local storage** (the embedded default), or no ``anywidget``: the file comes through the
  kernel (ipywidgets ``FileUpload``), up to ``kernel_limit`` bytes, is written under the workbench
  home, and ingested from there. For larger local files, ``wb.ingest(path)`` reads them in place.
"""

from __future__ import annotations

import html
import shutil
import threading
import tempfile
from pathlib import Path
from typing import Any

from ..context import Context
from ..errors import ConfigError, WorkbenchError
from ..job_handle import Job
from . import theme
from .render import exception_html

KERNEL_LIMIT = 50 * 1024 * 1024
FORMATS = ["auto", "csv", "tsv", "json", "ndjson", "excel", "parquet"]
MODES = ["overwrite", "create", "append"]


class UploadForm:
    """The form's widgets and logic; ``widget`` is what is displayed."""

    def __init__(self, *, direct: bool | None = None, kernel_limit: int = KERNEL_LIMIT,
                 single_put_max: int | None = None, ctx: Context | None = None) -> None:
        import ipywidgets as w

        from .direct_upload import direct_upload_available, make_direct_picker

        self.ctx = ctx or Context.from_settings()
        presign = hasattr(self.ctx.storage, "presign_put")
        if direct and not presign:
            raise ConfigError("direct browser uploads need object storage",
                              hint="set WORKBENCH_STORAGE_URL=s3://… (or r2://…)")
        if direct and not direct_upload_available():
            raise ConfigError("direct browser uploads need the anywidget package",
                              hint="pip install anywidget")
        self.direct = presign and direct_upload_available() if direct is None else direct
        self.kernel_limit = kernel_limit
        self.single_put_max = single_put_max  # above this, a multipart upload (None: the default)
        self.job: Job | None = None
        self.staged: Path | None = None  # the folder of a file staged for the kernel's ingest
        self.view: Any = None
        self.shown: Any = None
        self.upload_id: str | None = None
        # set once the temporary copy of the last ingested file is removed (after its job ends)
        self.cleaned = threading.Event()
        if self.direct:
            self.picker = make_direct_picker(self._on_browser_message)
            self.picker.observe(self._on_file_chosen, names="filename")
            self.file_upload = None
            where = "straight from your browser to object storage"
        else:
            self.picker = None
            self.file_upload = w.FileUpload(accept="", multiple=False, description="Choose file")
            self.file_upload.observe(self._on_file_chosen, names="value")
            where = f"through the kernel (up to {kernel_limit // (1024 * 1024)} MB)"
        self.name = w.Text(description="Dataset", placeholder="name for the dataset")
        self.format = w.Dropdown(options=FORMATS, value="auto", description="Format")
        self.delimiter = w.Text(description="Delimiter", placeholder="auto", layout=w.Layout(width="180px"))
        self.sheet = w.Text(description="Sheet", placeholder="first", layout=w.Layout(width="220px"))
        self.mode = w.Dropdown(options=MODES, value="overwrite", description="Mode")
        # nothing to ingest until a file is chosen
        self.ingest_button = w.Button(description="Ingest", button_style="primary", icon="upload",
                                      disabled=True, tooltip="choose a file first")
        self.ingest_button.on_click(lambda _b: self.ingest())
        self.chosen = w.HTML(f'<span class="wb-chosen" style="color:{theme.MUTED}">no file chosen</span>')
        self.ids = w.HTML()
        self.status = w.HTML(f'<span style="color:{theme.MUTED}">Files go {html.escape(where)}.</span>')
        self.job_area = w.VBox()
        chooser = self.picker if self.direct else self.file_upload
        self.widget = w.VBox([
            w.HTML("<b>Upload a file into a dataset</b>"), w.HBox([chooser, self.chosen]),
            w.HBox([self.name, self.mode]), w.HBox([self.format, self.delimiter, self.sheet]),
            self.ingest_button, self.status, self.ids, self.job_area])
        self.widget.add_class("workbench-upload")

    # -- helpers ------------------------------------------------------------------------
    def _chosen_name(self) -> str | None:
        if self.direct:
            return self.picker.filename or None
        files = self.file_upload.value
        return files[0]["name"] if files else None

    def _chosen_size(self) -> int | None:
        if self.direct:
            return int(self.picker.size or 0) or None
        files = self.file_upload.value
        return int(files[0].get("size") or len(files[0]["content"])) if files else None

    def _on_file_chosen(self, _change: Any = None) -> None:
        from ..textview import human_bytes

        filename = self._chosen_name()
        if filename:
            self.chosen.value = (f'<span class="wb-chosen" style="color:{theme.TEXT}"><b>'
                                 f'{html.escape(filename)}</b> · {human_bytes(self._chosen_size())}</span>')
            self.ingest_button.disabled = False
            self.ingest_button.tooltip = f"ingest {filename}"
        else:  # nothing chosen (or the chosen file was taken by the last ingest)
            self.ingest_button.disabled = True
        if filename and not self.name.value:
            stem = Path(filename).name.split(".")[0]
            from .builder import safe_name

            self.name.value = safe_name(stem)

    def _options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        if self.delimiter.value:
            opts["delimiter"] = "\t" if self.delimiter.value in ("\\t", "tab") else self.delimiter.value
        if self.sheet.value:
            opts["sheet"] = int(self.sheet.value) if self.sheet.value.isdigit() else self.sheet.value
        return opts

    def _fail(self, err: BaseException) -> None:
        # the error replaces the previous job's view: one outcome at a time
        self.status.value = exception_html(err)
        self.ids.value = ""
        self.job_area.children = []
        self.ingest_button.disabled = not self._chosen_name()

    def _show_job(self, job: Job) -> None:
        from .view import JobView

        if self.view is not None:
            self.view.close()
        self.job = job
        self.view = JobView(job)
        self.job_area.children = [self.view.widget]
        self.view.when_final(lambda: self._refresh_shown())
        bits = [f"job <code>{html.escape(job.id)}</code>"]
        if self.upload_id:
            bits.insert(0, f'upload id <code class="wb-upload-id">{html.escape(self.upload_id)}</code> '
                           '(for <code>wb.upload(…)</code> or the builder\'s upload source)')
        self.ids.value = f'<div class="wb-ids" style="color:{theme.TEXT}">{" · ".join(bits)}</div>'

    # -- actions ------------------------------------------------------------------------
    def ingest(self) -> Job | None:
        """Start the upload (direct) or the ingest (through the kernel). Errors show in the form."""
        from ..spec.models import validate_name

        self.ingest_button.disabled = True
        try:
            filename = self._chosen_name()
            if not filename:
                raise WorkbenchError("choose a file first")
            try:
                validate_name(self.name.value, "dataset name")
            except ValueError as exc:
                raise WorkbenchError(str(exc), hint="e.g. sales_2026") from None
            if self.direct:
                self._start_direct()
                return None
            return self._ingest_through_kernel()
        except BaseException as exc:
            self._fail(exc)
            return None

    def _pipeline(self, source: Any):
        from ..spec.models import DatasetSink, Pipeline

        return Pipeline(name=f"ingest {self.name.value}", source=source,
                        sink=DatasetSink(name=self.name.value, mode=self.mode.value))

    def _ingest_through_kernel(self) -> Job:
        from ..api import submit
        from ..spec.models import FileSource
        from ..uploads import safe_filename

        item = self.file_upload.value[0]
        content = item["content"]
        if len(content) > self.kernel_limit:
            raise ConfigError(
                f"{item['name']} is {len(content)} bytes, over the {self.kernel_limit}-byte limit "
                "for uploads through the kernel",
                hint="ingest it by path with wb.ingest(path, name=...), or store datasets in S3/R2 "
                     "so the browser uploads it directly")
        # Staged outside the workbench home: the home (catalog, storage, temp) is never a file
        # source (engines/source_roots.py).
        folder = Path(tempfile.mkdtemp(prefix="workbench-upload-"))
        self.staged = folder
        path = folder / safe_filename(item["name"])
        path.write_bytes(bytes(content))
        self.file_upload.value = ()  # let go of the bytes held by the widget
        self.chosen.value = (f'<span class="wb-chosen" style="color:{theme.TEXT}"><b>{html.escape(item["name"])}'
                             f'</b> · {len(content):,} bytes, sent to the kernel</span>')
        try:
            pipeline = self._pipeline(FileSource(path=str(path), format=self.format.value,
                                                 **self._options()))
            job = submit(pipeline)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.cleaned.clear()

        def cleanup(ev: Any) -> None:
            if ev.terminal:
                shutil.rmtree(folder, ignore_errors=True)
                self.cleaned.set()

        job.subscribe(cleanup)
        self.status.value = f"Ingesting {html.escape(item['name'])} into <b>{html.escape(self.name.value)}</b>"
        self._show_job(job)
        self.ingest_button.disabled = not self._chosen_name()
        return job

    def _start_direct(self) -> None:
        from ..uploads import create_upload

        extra = {} if self.single_put_max is None else {"single_put_max": self.single_put_max}
        plan = create_upload(self.ctx, self.picker.filename, int(self.picker.size), **extra)
        self.upload_id = plan["upload_id"]
        self.status.value = (f"Uploading {html.escape(self.picker.filename)} "
                             f"({self.picker.size:,} bytes) straight to storage…")
        self.job_area.children = []
        self.ids.value = (f'<div class="wb-ids" style="color:{theme.TEXT}">upload id <code class="wb-upload-id">'
                          f'{html.escape(self.upload_id)}</code></div>')
        self.picker.send({"type": "plan", **plan})

    def _on_browser_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "failed":
            self._fail(WorkbenchError(f"the upload failed: {msg.get('message')}",
                                      hint="check the bucket's CORS rule allows PUT from this page"))
        elif msg.get("type") == "uploaded":
            try:
                self.ingest_upload(str(msg.get("upload_id")))
            except BaseException as exc:
                self._fail(exc)

    def ingest_upload(self, upload_id: str) -> Job:
        """Confirm a finished browser upload and ingest it (called when the browser is done)."""
        from ..api import submit
        from ..spec.models import UploadSource
        from ..uploads import confirm_upload, finish_upload

        confirm_upload(self.ctx, upload_id)
        job = submit(self._pipeline(UploadSource(upload_id=upload_id, format=self.format.value)))
        ctx = self.ctx
        self.cleaned.clear()

        def cleanup(ev: Any) -> None:
            if ev.kind == "job_finished":  # a failed ingest keeps the upload for another try
                finish_upload(ctx, upload_id)
            if ev.terminal:
                self.cleaned.set()

        job.subscribe(cleanup)
        self.status.value = f"Uploaded; ingesting into <b>{html.escape(self.name.value)}</b>"
        self._show_job(job)
        self.ingest_button.disabled = False
        return job

    # -- display ------------------------------------------------------------------------
    def bundle(self) -> dict[str, Any]:
        """The form's widget beside a static copy of its latest outcome (file, ids, the job)."""
        from . import static

        job_html = job_text = ""
        if self.view is not None:
            data = self.view.static_bundle(live=False)
            job_html, job_text = data["text/html"], data["text/plain"]
        html_ = (f'<div class="workbench-upload" style="color:{theme.TEXT}"><b>Upload a file into a '
                 f'dataset</b><div>{self.chosen.value}</div><div>{self.status.value}</div>'
                 f'{self.ids.value}{job_html}</div>')
        text = "upload form" + (f"\n{job_text}" if job_text else "")
        return static.bundle(html_, text, model_id=self.widget.model_id)

    def _refresh_shown(self) -> None:
        if self.shown is not None:
            self.shown.update(self.bundle())

    def _ipython_display_(self) -> None:
        from .display import show_bundle

        self.shown = show_bundle(self.bundle())


def upload_form(**kwargs: Any) -> UploadForm | None:
    """``wb.upload_form()``: the form in a front end; outside one, how to ingest instead."""
    from .display import display_mode

    if display_mode() != "widget" and not kwargs.pop("force_widget", False):
        print("upload_form needs a notebook front end (JupyterLab). Here, ingest by path: "
              "wb.ingest('file.csv', name='sales') or `workbench ingest file.csv --name sales`.")
        return None
    return UploadForm(**kwargs)
