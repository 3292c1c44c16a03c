// The one error type of the ML engine: a stable code a caller can branch on, and a message a person can act on.

export class MlError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MlError';
    this.code = code;
  }
}
