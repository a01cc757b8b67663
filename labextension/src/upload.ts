// The Upload section: drop a file, and it goes straight to storage through the presigned URLs
// (one PUT, or one per part), with byte progress; then confirm starts the ingest job, which the
// Jobs section shows like any other.

import { ApiError, request } from './api';
import { bytes, el } from './format';

interface IPlan {
  upload_id: string;
  multipart: boolean;
  url?: string;
  headers?: { [key: string]: string };
  parts?: { part_number: number; url: string; size: number }[];
  part_size?: number;
}

export interface IUploadActions {
  notify(text: string, isError?: boolean): void;
  onIngest(jobId: string, dataset: string): void;
}

function put(
  url: string,
  body: Blob,
  headers: { [key: string]: string },
  onBytes: (n: number) => void
): Promise<void> {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers)) {
      xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = ev => onBytes(ev.loaded);
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300
        ? resolve()
        : reject(new Error(`storage answered ${xhr.status}: ${xhr.responseText.slice(0, 300)}`));
    xhr.onerror = () =>
      reject(
        new Error(
          'the upload to storage failed (is there a CORS rule on the bucket allowing PUT from this page?)'
        )
      );
    xhr.send(body);
  });
}

export class UploadSection {
  readonly node: HTMLElement;
  private zone: HTMLElement;
  private input: HTMLInputElement;
  private name: HTMLInputElement;
  private bar: HTMLElement;
  private label: HTMLElement;

  constructor(private actions: IUploadActions) {
    this.input = el('input', { type: 'file', class: 'wb-file-input' }) as HTMLInputElement;
    this.input.addEventListener('change', () => {
      const file = this.input.files && this.input.files[0];
      if (file) {
        void this.upload(file);
      }
    });
    this.name = el('input', {
      type: 'text',
      class: 'wb-upload-name jp-mod-styled',
      placeholder: 'dataset name (default: the file name)'
    }) as HTMLInputElement;
    this.zone = el(
      'div',
      { class: 'wb-dropzone', title: 'drop a file here, or click to choose one' },
      'Drop a file here (CSV, TSV, JSON, Excel, Parquet) or click to choose'
    );
    this.zone.addEventListener('click', () => this.input.click());
    this.zone.addEventListener('dragover', ev => {
      ev.preventDefault();
      this.zone.classList.add('wb-drag');
    });
    this.zone.addEventListener('dragleave', () => this.zone.classList.remove('wb-drag'));
    this.zone.addEventListener('drop', ev => {
      ev.preventDefault();
      this.zone.classList.remove('wb-drag');
      const file = ev.dataTransfer && ev.dataTransfer.files[0];
      if (file) {
        void this.upload(file);
      }
    });
    this.bar = el('div', { class: 'wb-progress-bar' });
    this.label = el('div', { class: 'wb-upload-label' });
    this.node = el(
      'div',
      { class: 'wb-section wb-upload' },
      this.name,
      this.zone,
      this.input,
      el('div', { class: 'wb-progress wb-upload-progress' }, this.bar),
      this.label
    );
  }

  static datasetName(filename: string): string {
    const stem = filename.split(/[\\/]/).pop()!.split('.')[0];
    const name = stem.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
    return name.slice(0, 128) || 'upload';
  }

  private show(done: number, total: number, text: string): void {
    this.bar.style.width = `${total ? Math.round((done / total) * 100) : 0}%`;
    this.label.textContent = text;
  }

  async upload(file: File): Promise<void> {
    const name = this.name.value.trim() || UploadSection.datasetName(file.name);
    this.node.dataset.state = 'uploading';
    try {
      const plan = await request<IPlan>('uploads', {
        method: 'POST',
        body: JSON.stringify({ filename: file.name, size: file.size })
      });
      const progress = (n: number) =>
        this.show(n, file.size, `${file.name}: ${bytes(n)} of ${bytes(file.size)} uploaded ` +
          `(${file.size ? Math.round((n / file.size) * 100) : 100}%)`);
      progress(0);
      if (!plan.multipart) {
        await put(plan.url!, file, plan.headers || {}, progress);
      } else {
        let offset = 0;
        for (const part of plan.parts!) {
          const start = offset;
          await put(part.url, file.slice(start, start + part.size), {}, n => progress(start + n));
          offset += part.size;
        }
      }
      progress(file.size);
      const out = await request<{ job_id: string }>(
        `uploads/${plan.upload_id}/confirm`,
        { method: 'POST', body: JSON.stringify({ name }) }
      );
      this.node.dataset.state = 'ingesting';
      this.label.textContent = `${file.name}: uploaded 100%; ingesting into ${name}`;
      this.actions.onIngest(out.job_id, name);
    } catch (err) {
      this.node.dataset.state = 'failed';
      const text = err instanceof ApiError ? err.text : String((err as Error).message || err);
      this.label.textContent = text;
      this.actions.notify(text, true);
    } finally {
      this.input.value = '';
    }
  }
}
