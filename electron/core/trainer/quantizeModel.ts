// Quantizes a GGUF model with llama.cpp's own quantizer (llama_model_quantize in the prebuilt
// libllama), e.g. to make Q8_0 / Q4_K_M test fixtures and benchmark models from F32/F16 files.
import { cpus } from 'node:os';
import { loadNativeTrainer } from './nativeTrainerBinding.js';
import { InvalidTrainingInputError, toTrainerError } from './trainerErrors.js';

export const QUANTIZE_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q2_k', 'q3_k_m', 'q4_k_s', 'q4_k_m', 'q5_k_s', 'q5_k_m', 'q6_k'] as const;
export type QuantizeType = (typeof QUANTIZE_TYPES)[number];

/**
 * Writes `inPath` quantized to `type` at `outPath`, with llama.cpp's mixture rules (Q4_K_M keeps
 * some tensors in Q6_K; rows not divisible by the block size fall back to a legacy type).
 * `threads` defaults to the number of logical CPUs.
 */
export async function quantizeModel(inPath: string, outPath: string, type: QuantizeType, threads = cpus().length): Promise<void> {
  if (!(QUANTIZE_TYPES as readonly string[]).includes(type)) throw new InvalidTrainingInputError(`Unknown quantization type '${type}'; use one of ${QUANTIZE_TYPES.join(', ')}.`);
  try {
    await loadNativeTrainer().modelQuantize(inPath, outPath, type, threads);
  } catch (error) {
    throw toTrainerError(error);
  }
}
