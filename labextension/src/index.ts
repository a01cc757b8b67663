// The "Workbench" sidebar: the namespace's jobs live, its datasets, and an upload area, all
// through the workbench REST API that the same package serves from Jupyter Server.

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { DatasetsSection } from './datasets';
import { el } from './format';
import { JobsSection } from './jobs';
import { watchNotebook } from './saved';
import { UploadSection } from './upload';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><rect x="3" y="4" width="18" height="4" rx="1"/>' +
  '<rect x="3" y="10" width="12" height="4" rx="1"/><rect x="3" y="16" width="15" height="4" rx="1"/>' +
  '</g></svg>';

export const workbenchIcon = new LabIcon({ name: 'workbench-panel:icon', svgstr: ICON_SVG });

type Tab = 'jobs' | 'datasets' | 'upload';

export class WorkbenchPanel extends Widget {
  private message: HTMLElement;
  private tabs = new Map<Tab, HTMLElement>();
  private sections = new Map<Tab, HTMLElement>();
  readonly jobs: JobsSection;
  readonly datasets: DatasetsSection;
  readonly upload: UploadSection;

  constructor(private tracker: INotebookTracker | null) {
    super();
    this.id = 'workbench-panel';
    this.addClass('wb-panel');
    this.title.icon = workbenchIcon;
    this.title.caption = 'Workbench: jobs, datasets, uploads';
    const actions = {
      openInCell: (code: string) => this.openInCell(code),
      notify: (text: string, isError = false) => this.notify(text, isError)
    };
    this.jobs = new JobsSection({
      ...actions,
      onJobEnded: (_job, status) => {
        if (status === 'succeeded') {
          void this.datasets.refresh();
        }
      }
    });
    this.datasets = new DatasetsSection(actions);
    this.upload = new UploadSection({
      notify: actions.notify,
      onIngest: (jobId, dataset) => {
        this.notify(`ingesting into ${dataset}: job ${jobId.slice(0, 12)}`);
        this.select('jobs');
        void this.jobs.refresh();
      }
    });
    const bar = el('div', { class: 'wb-tabs' });
    for (const [tab, label] of [
      ['jobs', 'Jobs'],
      ['datasets', 'Datasets'],
      ['upload', 'Upload']
    ] as [Tab, string][]) {
      const b = el('button', { class: 'wb-tab', type: 'button', 'data-tab': tab }, label);
      b.addEventListener('click', () => this.select(tab));
      bar.append(b);
      this.tabs.set(tab, b);
    }
    this.sections.set('jobs', this.jobs.node);
    this.sections.set('datasets', this.datasets.node);
    this.sections.set('upload', this.upload.node);
    this.message = el('div', { class: 'wb-message' });
    this.node.append(
      el('div', { class: 'wb-header' }, el('span', { class: 'wb-title' }, 'Workbench')),
      bar,
      this.message,
      this.jobs.node,
      this.datasets.node,
      this.upload.node
    );
    this.select('jobs');
    this.jobs.start();
  }

  select(tab: Tab): void {
    for (const [t, node] of this.sections) {
      node.hidden = t !== tab;
      this.tabs.get(t)!.classList.toggle('wb-active', t === tab);
    }
    if (tab === 'datasets') {
      void this.datasets.refresh();
    }
  }

  notify(text: string, isError = false): void {
    this.message.textContent = text;
    this.message.classList.toggle('wb-error', isError);
  }

  /** Insert ``code`` as a new cell below the active one of the current notebook. */
  openInCell(code: string): void {
    const panel = this.tracker && this.tracker.currentWidget;
    if (!panel) {
      this.notify('open a notebook first: the code goes into its active cell', true);
      return;
    }
    const notebook = panel.content;
    NotebookActions.insertBelow(notebook);
    const cell = notebook.activeCell;
    if (cell) {
      cell.model.sharedModel.setSource(code);
    }
    this.notify('inserted into the notebook');
  }

  dispose(): void {
    this.jobs.dispose();
    super.dispose();
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'workbench-panel:plugin',
  description: 'The Workbench sidebar: jobs live, datasets, uploads.',
  autoStart: true,
  optional: [ILabShell, INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    _shell: ILabShell | null,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new WorkbenchPanel(tracker);
    app.shell.add(panel, 'left', { rank: 900 });
    app.commands.addCommand('workbench:open-panel', {
      label: 'Show the Workbench panel',
      execute: () => app.shell.activateById(panel.id)
    });
    if (palette) {
      palette.addItem({ command: 'workbench:open-panel', category: 'Workbench' });
    }
  }
};

const savedCopies: JupyterFrontEndPlugin<void> = {
  id: 'workbench-panel:saved-copies',
  description: 'Saved workbench outputs show their static copy when their widget is gone.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.widgetAdded.connect((_t, panel) => watchNotebook(panel));
    tracker.forEach(panel => watchNotebook(panel));
  }
};

export default [plugin, savedCopies];
