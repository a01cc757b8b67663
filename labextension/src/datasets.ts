// The Datasets section: every dataset with its latest version; pick one to see its versions,
// schema with the profile's numbers, lineage, and its first rows.

import { ApiError, request } from './api';
import { button, bytes, count, el, pyString, when } from './format';

const PREVIEW_ROWS = 20;

interface IDatasetRow {
  name: string;
  version: number;
  rows: number;
  bytes: number;
  created_at: number;
  columns: string[];
}

export interface IDatasetActions {
  openInCell(code: string): void;
  notify(text: string, isError?: boolean): void;
}

export class DatasetsSection {
  readonly node: HTMLElement;
  private list: HTMLElement;
  private detail: HTMLElement;
  private selected: string | null = null;

  constructor(private actions: IDatasetActions) {
    this.list = el('div', { class: 'wb-datasets-list' });
    this.detail = el('div', { class: 'wb-dataset-detail' });
    this.node = el(
      'div',
      { class: 'wb-section wb-datasets' },
      el(
        'div',
        { class: 'wb-toolbar' },
        button('Refresh', 'read the datasets again', () => void this.refresh())
      ),
      this.list,
      this.detail
    );
  }

  async refresh(): Promise<void> {
    try {
      const data = await request<{ datasets: IDatasetRow[] }>('datasets');
      this.list.textContent = '';
      if (!data.datasets.length) {
        this.list.append(el('div', { class: 'wb-empty' }, 'No datasets yet.'));
      }
      for (const d of data.datasets) {
        const item = el(
          'div',
          { class: 'wb-dataset', 'data-name': d.name, title: 'show versions, schema and rows' },
          el('span', { class: 'wb-dataset-name' }, d.name),
          el(
            'span',
            { class: 'wb-dataset-meta' },
            `v${d.version} · ${count(d.rows)} rows · ${bytes(d.bytes)}`
          )
        );
        item.classList.toggle('wb-selected', d.name === this.selected);
        item.addEventListener('click', () => void this.show(d.name));
        this.list.append(item);
      }
    } catch (err) {
      this.actions.notify(err instanceof ApiError ? err.text : String(err), true);
    }
  }

  async show(name: string, version?: number): Promise<void> {
    this.selected = name;
    for (const item of Array.from(this.list.querySelectorAll('.wb-dataset'))) {
      item.classList.toggle('wb-selected', (item as HTMLElement).dataset.name === name);
    }
    const q = version ? `?version=${version}` : '';
    try {
      const [ds, preview] = await Promise.all([
        request<any>(`datasets/${encodeURIComponent(name)}${q}`),
        request<any>(
          `datasets/${encodeURIComponent(name)}/preview?rows=${PREVIEW_ROWS}${
            version ? `&version=${version}` : ''
          }`
        )
      ]);
      this.detail.textContent = '';
      this.detail.append(
        el(
          'div',
          { class: 'wb-detail-head' },
          el('b', {}, `${ds.name} v${ds.version}`),
          ` · ${count(ds.rows)} rows · ${bytes(ds.bytes)}`,
          button('Open in a cell', 'insert wb.read(...) into the active notebook', () =>
            this.actions.openInCell(
              `import workbench as wb\n\nwb.read(${pyString(ds.name)}${
                version ? `, version=${version}` : ''
              }).head(${PREVIEW_ROWS}).collect()`
            ), 'wb-open')
        ),
        this.versions(ds),
        this.schema(ds),
        this.lineage(ds),
        this.table(preview)
      );
    } catch (err) {
      this.detail.textContent = '';
      this.detail.append(
        el('div', { class: 'wb-error' }, err instanceof ApiError ? err.text : String(err))
      );
    }
  }

  private versions(ds: any): HTMLElement {
    const box = el('div', { class: 'wb-versions' }, el('div', { class: 'wb-label' }, 'Versions'));
    for (const v of ds.versions) {
      const item = el(
        'span',
        { class: `wb-version${v.version === ds.version ? ' wb-selected' : ''}`, title: when(v.created_at) },
        `v${v.version} (${count(v.rows)})`
      );
      item.addEventListener('click', () => void this.show(ds.name, v.version));
      box.append(item);
    }
    return box;
  }

  private schema(ds: any): HTMLElement {
    const table = el('table', { class: 'wb-table wb-schema' });
    table.append(
      el(
        'thead',
        {},
        el('tr', {}, ...['column', 'type', 'nulls', 'distinct', 'min', 'max'].map(h => el('th', {}, h)))
      )
    );
    const body = el('tbody');
    const cols = (ds.profile && ds.profile.columns) || {};
    for (const f of ds.schema.fields) {
      const p = cols[f.name] || {};
      const cell = (v: any) => el('td', {}, v === null || v === undefined ? '' : String(v));
      body.append(
        el(
          'tr',
          {},
          el('td', {}, f.name),
          el('td', { class: 'wb-type' }, f.type + (f.nullable ? '' : ' not null')),
          cell(p.null_count),
          cell(p.distinct ?? p.approx_distinct), // the count where one was made, else the estimate
          cell(p.min),
          cell(p.max)
        )
      );
    }
    table.append(body);
    return el('div', {}, el('div', { class: 'wb-label' }, 'Schema and profile'), table);
  }

  private lineage(ds: any): HTMLElement {
    const src = ds.lineage && ds.lineage.source;
    const from = src
      ? src.path ||
        (src.name && `dataset ${src.name}`) ||
        (src.upload_id && `upload ${src.upload_id}`) ||
        (src.sql && `query on ${src.db}`) ||
        src.kind
      : (ds.inputs || []).map((i: any) => i.path).join(', ') || '-';
    return el(
      'div',
      { class: 'wb-lineage' },
      el('span', { class: 'wb-label' }, 'From '),
      String(from),
      ds.job_id ? ` · job ${ds.job_id.slice(0, 12)}` : ''
    );
  }

  private table(preview: any): HTMLElement {
    const table = el('table', { class: 'wb-table wb-preview' });
    const cols: string[] = preview.columns.map((c: any) => c.name);
    table.append(el('thead', {}, el('tr', {}, ...cols.map(c => el('th', {}, c)))));
    const body = el('tbody');
    for (const row of preview.rows) {
      body.append(
        el(
          'tr',
          {},
          ...cols.map(c => el('td', {}, row[c] === null || row[c] === undefined ? '' : String(row[c])))
        )
      );
    }
    table.append(body);
    return el('div', { class: 'wb-preview-box' }, el('div', { class: 'wb-label' }, 'First rows'), table);
  }
}
