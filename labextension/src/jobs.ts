// The Jobs section: the namespace's jobs, newest first, with live progress for the running ones.
//
// The list is read every few seconds (new jobs appear, ended ones settle); each running job is
// followed over its events stream, which drives its progress bar between list reads. Browsers
// allow about six connections per server, so at most MAX_STREAMS jobs are followed at once; the
// others move with the list's progress snapshots.

import { ApiError, IJobEvent, followJob, request } from './api';
import { button, count, el, seconds } from './format';

const MAX_STREAMS = 3;
const REFRESH_MS = 2000;
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface IJobRow {
  id: string;
  name: string | null;
  status: string;
  runner: string;
  who: string | null;
  dataset: string | null;
  submitted_at: number;
  started_at: number | null;
  finished_at: number | null;
  duration: number | null;
  progress: { [key: string]: any } | null;
  error: { [key: string]: any } | null;
}

interface ILive {
  status?: string;
  step?: string;
  rows?: number;
  bytes?: number;
  rows_total?: number | null;
  bytes_total?: number | null;
  started?: number;
  finished?: number;
  error?: { [key: string]: any } | null;
}

export interface IJobActions {
  openInCell(code: string): void;
  notify(text: string, isError?: boolean): void;
  onJobEnded?(job: IJobRow, status: string): void;
}

export class JobsSection {
  readonly node: HTMLElement;
  private list: HTMLElement;
  private filter: HTMLSelectElement;
  private rows = new Map<string, HTMLElement>();
  private jobs = new Map<string, IJobRow>();
  private live = new Map<string, ILive>();
  private streams = new Map<string, () => void>();
  private timer: number | undefined;
  private ticking = false;

  constructor(private actions: IJobActions) {
    this.filter = el('select', { class: 'wb-filter', title: 'show jobs with this status' });
    for (const s of ['', 'running', 'queued', 'succeeded', 'failed', 'cancelled']) {
      const opt = el('option', { value: s });
      opt.textContent = s || 'all statuses';
      this.filter.append(opt);
    }
    this.filter.addEventListener('change', () => {
      this.clear();
      void this.refresh();
    });
    this.list = el('div', { class: 'wb-jobs-list' });
    this.node = el(
      'div',
      { class: 'wb-section wb-jobs' },
      el('div', { class: 'wb-toolbar' }, this.filter),
      this.list
    );
  }

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    for (const close of this.streams.values()) {
      close();
    }
  }

  private clear(): void {
    this.rows.clear();
    this.jobs.clear();
    this.list.textContent = '';
  }

  async refresh(): Promise<void> {
    if (this.ticking) {
      return;
    }
    this.ticking = true;
    try {
      const status = this.filter.value;
      const data = await request<{ jobs: IJobRow[] }>(
        `jobs?limit=50${status ? `&status=${encodeURIComponent(status)}` : ''}`
      );
      this.render(data.jobs);
    } catch (err) {
      this.actions.notify(err instanceof ApiError ? err.text : String(err), true);
    } finally {
      this.ticking = false;
    }
  }

  private render(jobs: IJobRow[]): void {
    if (!jobs.length) {
      this.list.textContent = '';
      this.list.append(el('div', { class: 'wb-empty' }, 'No jobs yet in this namespace.'));
      this.rows.clear();
      return;
    }
    this.list.querySelector('.wb-empty')?.remove();
    const keep = new Set(jobs.map(j => j.id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) {
        row.remove();
        this.rows.delete(id);
      }
    }
    let previous: HTMLElement | null = null;
    for (const job of jobs) {
      this.jobs.set(job.id, job);
      let row = this.rows.get(job.id);
      if (!row) {
        row = this.makeRow(job);
        this.rows.set(job.id, row);
      }
      if (previous === null ? this.list.firstChild !== row : previous.nextSibling !== row) {
        if (previous === null) {
          this.list.prepend(row);
        } else {
          previous.after(row);
        }
      }
      previous = row;
      this.follow(job);
      this.update(job.id);
    }
  }

  private follow(job: IJobRow): void {
    if (FINAL.has(job.status) || this.streams.has(job.id) || this.streams.size >= MAX_STREAMS) {
      return;
    }
    const live: ILive = this.live.get(job.id) || {};
    this.live.set(job.id, live);
    const close = followJob(
      job.id,
      ev => {
        this.apply(live, ev);
        this.update(job.id);
      },
      () => {
        this.streams.delete(job.id);
        this.update(job.id);
      }
    );
    this.streams.set(job.id, close);
  }

  private apply(live: ILive, ev: IJobEvent): void {
    switch (ev.kind) {
      case 'job_started':
        live.status = 'running';
        live.started = live.started ?? ev.ts;
        break;
      case 'step_started':
        live.step = ev.step;
        break;
      case 'progress':
        live.step = ev.step || live.step;
        live.rows = ev.rows;
        live.bytes = ev.bytes;
        live.rows_total = ev.rows_total;
        live.bytes_total = ev.bytes_total;
        break;
      case 'retrying':
        live.status = 'retrying';
        break;
      case 'job_finished':
        live.status = 'succeeded';
        live.finished = ev.ts;
        break;
      case 'job_failed':
        live.status = 'failed';
        live.finished = ev.ts;
        live.error = ev.error;
        break;
      case 'job_cancelled':
        live.status = 'cancelled';
        live.finished = ev.ts;
        break;
    }
  }

  private state(id: string): { job: IJobRow; live: ILive; status: string } {
    const job = this.jobs.get(id)!;
    const live = this.live.get(id) || {};
    // whichever knows the end first wins; otherwise the live stream is the fresher one
    const status = FINAL.has(job.status) ? job.status : live.status || job.status;
    return { job, live, status };
  }

  private fraction(job: IJobRow, live: ILive, status: string): number | null {
    if (status === 'succeeded') {
      return 1;
    }
    const p = { ...(job.progress || {}), ...live };
    if (p.rows_total) {
      return Math.min(1, (p.rows || 0) / p.rows_total);
    }
    if (p.bytes_total) {
      return Math.min(1, (p.bytes || 0) / p.bytes_total);
    }
    return null;
  }

  private makeRow(job: IJobRow): HTMLElement {
    const id = job.id;
    const row = el(
      'div',
      { class: 'wb-job', 'data-job-id': id },
      el(
        'div',
        { class: 'wb-job-head' },
        el('span', { class: 'wb-job-name', title: id }),
        el('span', { class: 'wb-status' })
      ),
      el('div', { class: 'wb-job-meta' }),
      el(
        'div',
        { class: 'wb-progress' },
        el('div', { class: 'wb-progress-bar' })
      ),
      el('div', { class: 'wb-progress-text' }),
      el('div', { class: 'wb-job-error' }),
      el(
        'div',
        { class: 'wb-job-actions' },
        button('Cancel', 'cancel this job', () => void this.cancel(id), 'wb-cancel'),
        button('Re-run', 'submit this job again', () => void this.rerun(id), 'wb-rerun'),
        button(
          'Open in a cell',
          'insert wb.job(...) into the active notebook',
          () =>
            this.actions.openInCell(`import workbench as wb\n\nwb.job(${JSON.stringify(id)})`),
          'wb-open'
        )
      )
    );
    return row;
  }

  private update(id: string): void {
    const row = this.rows.get(id);
    if (!row || !this.jobs.has(id)) {
      return;
    }
    const { job, live, status } = this.state(id);
    const q = (s: string) => row.querySelector(s) as HTMLElement;
    q('.wb-job-name').textContent = job.name || id.slice(0, 12);
    const badge = q('.wb-status');
    badge.textContent = status;
    badge.className = `wb-status wb-status-${status}`;
    row.dataset.status = status;
    const start = live.started || job.started_at || job.submitted_at;
    const end = live.finished || job.finished_at;
    const took = end ? end - start : FINAL.has(status) ? job.duration : Date.now() / 1000 - start;
    q('.wb-job-meta').textContent = [
      job.dataset ? `→ ${job.dataset}` : 'no sink',
      job.who || '-',
      seconds(took),
      job.runner
    ].join(' · ');
    const frac = this.fraction(job, live, status);
    const bar = q('.wb-progress-bar');
    const box = q('.wb-progress');
    box.classList.toggle('wb-indeterminate', frac === null && !FINAL.has(status));
    bar.style.width = `${Math.round((frac ?? (FINAL.has(status) ? 1 : 0)) * 100)}%`;
    const p = { ...(job.progress || {}), ...live };
    const pct = frac === null ? '' : ` · ${Math.round(frac * 100)}%`;
    q('.wb-progress-text').textContent = FINAL.has(status)
      ? status === 'succeeded'
        ? `done${pct}`
        : status
      : `${p.step || 'waiting'} · ${count(p.rows || 0)} rows${pct}`;
    const err = live.error || job.error;
    q('.wb-job-error').textContent =
      status === 'failed' && err
        ? `${err.type}: ${err.message}${err.hint ? `. ${err.hint}` : ''}`
        : '';
    (q('.wb-cancel') as HTMLButtonElement).disabled = FINAL.has(status);
    if (FINAL.has(status) && row.dataset.ended !== status) {
      row.dataset.ended = status;
      this.actions.onJobEnded?.(job, status);
    }
  }

  private async cancel(id: string): Promise<void> {
    try {
      const out = await request<{ status: string }>(`jobs/${encodeURIComponent(id)}`, {
        method: 'DELETE'
      });
      this.actions.notify(`cancel requested: the job is ${out.status}`);
      void this.refresh();
    } catch (err) {
      this.actions.notify(err instanceof ApiError ? err.text : String(err), true);
    }
  }

  private async rerun(id: string): Promise<void> {
    try {
      const out = await request<{ job_id: string }>(`jobs/${encodeURIComponent(id)}/rerun`, {
        method: 'POST'
      });
      this.actions.notify(`re-run as ${out.job_id.slice(0, 12)}`);
      void this.refresh();
    } catch (err) {
      this.actions.notify(err instanceof ApiError ? err.text : String(err), true);
    }
  }
}
