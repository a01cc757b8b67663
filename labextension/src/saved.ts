// Saved workbench outputs in a notebook reopened with a new kernel.
//
// Every workbench output carries a static text/html copy of its latest state beside its widget
// view. JupyterLab prefers the widget view, and once the kernel that held the widget is gone the
// widget renderer can only say "Error displaying widget: model not found". Where that happens to a
// workbench output (or a widget output waits for a kernel the notebook does not have), this draws
// the saved copy in its place, through JupyterLab's own text/html renderer (sanitised the same way
// when the notebook is not trusted). Live widgets are left alone.

import type { CodeCell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const MISSING = 'Error displaying widget: model not found';
const WAITING = 'Loading widget...';
const OURS = 'workbench-';

function text(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  if (Array.isArray(value) && value.every(v => typeof v === 'string')) {
    return value.join('');
  }
  return null;
}

function stuckNode(output: HTMLElement, noKernel: boolean): HTMLElement | null {
  for (const node of Array.from(output.querySelectorAll<HTMLElement>('.jupyter-widgets'))) {
    const said = (node.textContent || '').trim();
    if (said === MISSING || (noKernel && said === WAITING)) {
      return node;
    }
  }
  return null;
}

export function showSavedCopies(panel: NotebookPanel): void {
  const notebook = panel.content;
  const noKernel = !panel.sessionContext.session?.kernel;
  for (const cell of notebook.widgets) {
    if (cell.model.type !== 'code') {
      continue;
    }
    const area = (cell as CodeCell).outputArea;
    for (let i = 0; i < area.model.length && i < area.widgets.length; i++) {
      const output = area.model.get(i);
      const html = text(output.data['text/html']);
      if (!output.data[WIDGET_VIEW] || html === null || !html.includes(OURS)) {
        continue;
      }
      const node = stuckNode(area.widgets[i].node, noKernel);
      if (node === null || node.dataset.wbSaved === 'pending') {
        continue;
      }
      node.dataset.wbSaved = 'pending';
      const renderer = notebook.rendermime.createRenderer('text/html');
      const model: IRenderMime.IMimeModel = {
        trusted: output.trusted,
        data: { 'text/html': html },
        metadata: {},
        setData: () => undefined
      };
      void renderer.renderModel(model).then(() => {
        node.textContent = '';
        node.classList.add('wb-saved-copy');
        node.title = 'the saved copy of this output: its widget needs the kernel that made it';
        node.appendChild(renderer.node);
        node.dataset.wbSaved = 'shown';
      });
    }
  }
}

/** Watch a notebook: whenever its outputs change, put saved copies where widgets cannot show. */
export function watchNotebook(panel: NotebookPanel): void {
  let queued = false;
  const run = () => {
    queued = false;
    if (!panel.isDisposed) {
      showSavedCopies(panel);
    }
  };
  const observer = new MutationObserver(() => {
    if (!queued) {
      queued = true;
      window.setTimeout(run, 100);
    }
  });
  observer.observe(panel.content.node, { subtree: true, childList: true, characterData: true });
  panel.disposed.connect(() => observer.disconnect());
  panel.sessionContext.kernelChanged.connect(() => window.setTimeout(run, 100));
  void panel.sessionContext.ready.then(() => window.setTimeout(run, 100));
}
