// Typed errors of the LoRA trainer. The native addon rejects with an Error carrying a stable
// `code` (native/src/trainer_error.h); toTrainerError turns it into one of these classes, so
// callers branch on the class and users get a message they can act on.
import { ParamKbError } from '../../shared/errors.js';

/** Codes the native addon uses; keep in sync with native/src/trainer_error.h. */
export type TrainerErrorCode = 'unsupported-model' | 'invalid-input' | 'out-of-memory' | 'cancelled' | 'io-error' | 'device-error' | 'addon-missing' | 'disposed' | 'internal';

/** Base of every trainer error; `code` is stable across versions. */
export class TrainerError extends ParamKbError {
  override name = 'TrainerError';
  declare readonly code: TrainerErrorCode;
  constructor(code: TrainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The model's architecture, tensor types or metadata are outside what the trainer supports. */
export class UnsupportedModelError extends TrainerError {
  override name = 'UnsupportedModelError';
  constructor(message: string, options?: { cause?: unknown }) { super('unsupported-model', message, options); }
}

/** A training or evaluation input is invalid (token ids, lengths, options, adapter files). */
export class InvalidTrainingInputError extends TrainerError {
  override name = 'InvalidTrainingInputError';
  constructor(message: string, options?: { cause?: unknown }) { super('invalid-input', message, options); }
}

/** Not enough memory for the model, the adapter or the compute buffers. */
export class TrainerOutOfMemoryError extends TrainerError {
  override name = 'TrainerOutOfMemoryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('out-of-memory', `${message} Close other applications, use shorter sequences or a smaller model.`, options);
  }
}

/** A GPU failed (its memory is full, a driver error); the CPU can do the same work. */
export class TrainerDeviceError extends TrainerError {
  override name = 'TrainerDeviceError';
  constructor(message: string, options?: { cause?: unknown }) { super('device-error', message, options); }
}

/** Training stopped because its AbortSignal fired. */
export class TrainingCancelledError extends TrainerError {
  override name = 'TrainingCancelledError';
  constructor(message = 'Training was cancelled.', options?: { cause?: unknown }) { super('cancelled', message, options); }
}

/** Maps an error from the addon (an Error with a `code`) to a typed trainer error. */
export function toTrainerError(error: unknown): Error {
  if (error instanceof TrainerError) return error;
  if (!(error instanceof Error)) return new TrainerError('internal', String(error));
  const code = (error as Error & { code?: unknown }).code;
  switch (code) {
    case 'unsupported-model': return new UnsupportedModelError(error.message, { cause: error });
    case 'invalid-input': return new InvalidTrainingInputError(error.message, { cause: error });
    case 'out-of-memory': return new TrainerOutOfMemoryError(error.message, { cause: error });
    case 'cancelled': return new TrainingCancelledError(error.message, { cause: error });
    case 'io-error': return new TrainerError('io-error', error.message, { cause: error });
    case 'device-error': return new TrainerDeviceError(error.message, { cause: error });
    default: return new TrainerError('internal', error.message, { cause: error });
  }
}
