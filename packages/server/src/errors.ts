// One error currency for the platform: a stable code, an HTTP status, and a message a person can act on.
// The HTTP edge turns it into { "error": { "code", "message", "details" } }; the CLI prints the message.

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, status: number, message: string, details?: Record<string, unknown>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>): AppError =>
  new AppError(code, 400, message, details);
export const notFound = (code: string, message: string, details?: Record<string, unknown>): AppError =>
  new AppError(code, 404, message, details);
export const conflict = (code: string, message: string, details?: Record<string, unknown>): AppError =>
  new AppError(code, 409, message, details);
export const unauthorized = (code: string, message: string): AppError => new AppError(code, 401, message);
export const forbidden = (code: string, message: string): AppError => new AppError(code, 403, message);

/** Storage integrity failure: stored bytes do not match their digest. Never return such bytes. */
export const integrityError = (message: string, details?: Record<string, unknown>): AppError =>
  new AppError('INTEGRITY_ERROR', 500, message, details);
