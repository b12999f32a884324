// Typed errors. Expected errors (a bad file, a wrong model, a bad question) carry a stable code
// and a message a user can act on; anything else is a bug. Both cross process boundaries as
// SerializedError and reach one sink in the UI.
import type { SerializedError } from './types.js';

/** Base of every error a user can cause and fix. */
export class ParamKbError extends Error {
  override name = 'ParamKbError';
  readonly expected = true;
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class NotFoundError extends ParamKbError {
  override name = 'NotFoundError';
  constructor(what: string) { super('not-found', `${what} was not found.`); }
}

export class ModelError extends ParamKbError {
  override name = 'ModelError';
}

export class NoModelError extends ModelError {
  override name = 'NoModelError';
  constructor() {
    super('no-model', 'No model is loaded. Open a GGUF model file or download one in Models (SmolLM2 135M takes a minute), or on the command line pass --model FILE.gguf or set PARAMKB_MODEL.');
  }
}

export class CancelledError extends ParamKbError {
  override name = 'CancelledError';
  constructor(what = 'The operation') { super('cancelled', `${what} was cancelled.`); }
}

/** Encoding was asked for where the native trainer cannot run (see EncodingAvailability). */
export class EncodingUnavailableError extends ParamKbError {
  override name = 'EncodingUnavailableError';
  constructor(reason: string) {
    super('encoding-unavailable', `Parametric encoding is unavailable on this computer. ${reason} Answers use the passages in context.`);
  }
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; expected?: unknown };
    const out: SerializedError = {
      name: e.name,
      message: e.message,
      code: typeof e.code === 'string' ? e.code : 'internal',
      expected: e.expected === true || e.name === 'InvalidArgumentsError',
    };
    if (e.cause !== undefined) out.cause = serializeError(e.cause);
    return out;
  }
  return { name: 'Error', message: String(error), code: 'internal', expected: false };
}

/** Rebuilds an Error on the receiving side, keeping name, code and the expected flag. */
export function deserializeError(s: SerializedError): Error & { code: string; expected: boolean } {
  const error = new Error(s.message) as Error & { code: string; expected: boolean };
  error.name = s.name;
  error.code = s.code;
  error.expected = s.expected;
  if (s.cause) (error as { cause?: unknown }).cause = deserializeError(s.cause);
  return error;
}
