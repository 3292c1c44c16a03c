// Dataset uploads through XMLHttpRequest, because fetch cannot report upload progress. Same cookie, CSRF header
// and error type as the rest of the client.
import { apiPath, ApiError, CSRF_HEADER, getCsrfToken, toApiError } from './client';

export interface UploadResult {
  version: { version: number; rowCount: number | null };
  created: boolean;
}

export interface UploadOptions {
  project: string;
  dataset: string;
  file: Blob;
  encoding?: string;
  message?: string;
  onProgress?: (sent: number, total: number) => void;
  /** Called once every byte has been sent (the server still profiles the file before answering). */
  onSent?: () => void;
  signal?: AbortSignal;
}

export function uploadUrl(o: { project: string; dataset: string; encoding?: string; message?: string }): string {
  const q = new URLSearchParams();
  if (o.encoding) q.set('encoding', o.encoding);
  if (o.message) q.set('message', o.message);
  const qs = q.toString();
  return apiPath('projects', o.project, 'datasets', o.dataset, 'versions') + (qs ? `?${qs}` : '');
}

export function uploadDataset(o: UploadOptions): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', uploadUrl(o));
    xhr.withCredentials = true;
    xhr.setRequestHeader('content-type', 'text/csv');
    xhr.setRequestHeader('accept', 'application/json');
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader(CSRF_HEADER, csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) o.onProgress?.(e.loaded, e.total);
    };
    xhr.upload.onload = () => o.onSent?.();
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as UploadResult);
      else reject(toApiError(xhr.status, body, xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK_ERROR', 'the upload could not reach the server'));
    xhr.onabort = () => reject(new ApiError(0, 'ABORTED', 'the upload was cancelled'));
    o.signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(o.file);
  });
}
