"""A file picker that sends the file from the browser straight to object storage.

The kernel never holds the bytes: it asks ``workbench.uploads.create_upload`` for presigned PUT
URLs (one, or one per part for a multipart upload), sends them to the browser, and the browser
PUTs slices of the file to R2/S3 directly, reporting bytes sent. The kernel then confirms the
upload (which completes the multipart upload server-side) and ingests it.

This needs the ``anywidget`` package (a small front-end piece has to run in the browser), and a
CORS rule on the bucket that allows ``PUT`` from the JupyterLab origin.
"""

from __future__ import annotations

from typing import Any, Callable

ESM = r"""
const PARALLEL = 3;

function putSlice(url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300)
      ? resolve() : reject(new Error(`HTTP ${xhr.status}: ${xhr.responseText.slice(0, 300)}`));
    xhr.onerror = () => reject(new Error("network error (is CORS allowed on the bucket?)"));
    xhr.send(body);
  });
}

function render({ model, el }) {
  const input = document.createElement("input");
  input.type = "file";
  input.className = "wb-direct-file";
  const bar = document.createElement("progress");
  bar.className = "wb-direct-progress";
  bar.max = 1; bar.value = 0; bar.style.width = "60%";
  const label = document.createElement("span");
  label.className = "wb-direct-label";
  label.style.marginLeft = "8px";
  el.append(input, document.createElement("br"), bar, label);

  input.addEventListener("change", () => {
    const f = input.files[0];
    model.set("filename", f ? f.name : "");
    model.set("size", f ? f.size : 0);
    model.set("sent", 0);
    model.set("status", f ? "chosen" : "idle");
    model.save_changes();
  });

  const redraw = () => {
    const size = model.get("size"), sent = model.get("sent");
    bar.value = size ? sent / size : 0;
    label.textContent = `${model.get("status")} ${size ? Math.round(100 * sent / size) : 0}%`;
  };
  model.on("change:sent", redraw);
  model.on("change:status", redraw);

  model.on("msg:custom", async (msg) => {
    if (msg.type !== "plan") return;
    const f = input.files[0];
    if (!f) { model.send({ type: "failed", message: "no file chosen" }); return; }
    const pieces = msg.multipart
      ? msg.parts.map((p) => ({ url: p.url, start: (p.part_number - 1) * msg.part_size,
                                 size: p.size, headers: {} }))
      : [{ url: msg.url, start: 0, size: f.size, headers: msg.headers }];
    const done = new Array(pieces.length).fill(0);
    let last = 0;
    const report = (force) => {
      const now = Date.now();
      if (!force && now - last < 100) return;  // at most ten updates a second to the kernel
      last = now;
      model.set("sent", done.reduce((a, b) => a + b, 0));
      model.save_changes();
    };
    model.set("status", "uploading"); model.save_changes();
    try {
      let next = 0;
      const worker = async () => {
        while (next < pieces.length) {
          const i = next++;
          const p = pieces[i];
          await putSlice(p.url, f.slice(p.start, p.start + p.size), p.headers,
                         (n) => { done[i] = n; report(false); });
          done[i] = p.size; report(false);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, pieces.length) }, worker));
      report(true);
      model.set("status", "uploaded"); model.save_changes();
      model.send({ type: "uploaded", upload_id: msg.upload_id });
    } catch (e) {
      model.set("status", "failed"); model.save_changes();
      model.send({ type: "failed", upload_id: msg.upload_id, message: String(e.message || e) });
    }
  });
  redraw();
}
export default { render };
"""


def direct_upload_available() -> bool:
    try:
        # heavy optional dependency: imported on first use
        import anywidget  # noqa: F401
    except ImportError:
        return False
    return True


def make_direct_picker(on_message: Callable[[dict[str, Any]], None]) -> Any:
    """The browser-side picker widget; ``on_message`` gets ``uploaded``/``failed`` messages."""
    # heavy optional dependency: imported on first use
    import anywidget
    # heavy optional dependency: imported on first use
    import traitlets as t

    class DirectUpload(anywidget.AnyWidget):
        _esm = ESM
        filename = t.Unicode("").tag(sync=True)
        size = t.Int(0).tag(sync=True)
        sent = t.Int(0).tag(sync=True)
        status = t.Unicode("idle").tag(sync=True)

    picker = DirectUpload()
    picker.on_msg(lambda _w, content, _buffers: on_message(content))
    return picker
