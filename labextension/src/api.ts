// The workbench REST API (/workbench/api/v1/) as seen from the page: Jupyter Server's own
// authentication (the page's token and XSRF cookie, through ServerConnection), JSON in and out,
// the CLI's error object turned into an Error that keeps its fields, and job events over
// Server-Sent Events.

import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const PREFIX = 'workbench/api/v1';

export interface IErrorObject {
  type: string;
  message: string;
  file?: string | null;
  row?: number | null;
  column?: string | null;
  step?: string | null;
  hint?: string | null;
}

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly error: IErrorObject
  ) {
    super(error.message);
  }

  /** One line for people: message, where, and the hint. */
  get text(): string {
    const e = this.error;
    const where = (['file', 'row', 'column', 'step'] as const)
      .filter(k => e[k] !== null && e[k] !== undefined)
      .map(k => `${k} ${e[k]}`)
      .join(', ');
    return (
      `${e.type}: ${e.message}` +
      (where ? ` (${where})` : '') +
      (e.hint ? `. ${e.hint}` : '')
    );
  }
}

export function apiUrl(path: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, PREFIX, path);
}

export async function request<T = any>(
  path: string,
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const headers = new Headers(init.headers);
  if (init.body && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  const response = await ServerConnection.makeRequest(
    apiUrl(path),
    { ...init, headers },
    settings
  );
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error: IErrorObject = (data && data.error) || {
      type: 'HTTPError',
      message: `${response.status} ${response.statusText}`
    };
    throw new ApiError(response.status, error);
  }
  return data as T;
}

export interface IJobEvent {
  kind: string;
  job_id: string;
  ts: number;
  [key: string]: any;
}

const TERMINAL = new Set(['job_finished', 'job_failed', 'job_cancelled']);

/**
 * Follow a job's events: replayed from the first, then live. EventSource reconnects by itself
 * with Last-Event-ID; the stream is closed here once the job ends.
 */
export function followJob(
  jobId: string,
  onEvent: (ev: IJobEvent) => void,
  onEnd: () => void
): () => void {
  let url = apiUrl(`jobs/${encodeURIComponent(jobId)}/events`);
  const token = PageConfig.getToken();
  if (token) {
    url += `?token=${encodeURIComponent(token)}`;
  }
  const source = new EventSource(url, { withCredentials: true });
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      source.close();
      onEnd();
    }
  };
  const handler = (msg: MessageEvent) => {
    const ev = JSON.parse(msg.data) as IJobEvent;
    onEvent(ev);
    if (TERMINAL.has(ev.kind)) {
      close();
    }
  };
  for (const kind of [
    'job_started',
    'step_started',
    'progress',
    'step_finished',
    'check_result',
    'message',
    'retrying',
    'job_finished',
    'job_failed',
    'job_cancelled'
  ]) {
    source.addEventListener(kind, handler as EventListener);
  }
  source.onerror = () => {
    // CLOSED means the server said 204 (nothing more) or refused: stop following.
    if (source.readyState === EventSource.CLOSED) {
      close();
    }
  };
  return close;
}
