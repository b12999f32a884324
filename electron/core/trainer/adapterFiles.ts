// Adapter files without a loaded model: converting an adapter's tensor types, and merging the
// adapters an answer applies into one file (see native/src/adapter_merge.cpp for why).
import { loadNativeTrainer } from './nativeTrainerBinding.js';
import { ADAPTER_TENSOR_TYPES, type AdapterRef, type AdapterTensorType } from './LoraTrainer.js';
import { InvalidTrainingInputError, toTrainerError } from './trainerErrors.js';

/**
 * Writes one adapter equal to applying all `inputs` together with their scales (rank: the sum
 * of theirs; alpha 0, the scales are baked into lora_b). With one input of scale 1 it only
 * converts the tensor types and keeps alpha. Written through a temporary file and a rename.
 */
export async function mergeAdapters(inputs: AdapterRef[], outPath: string, outType: AdapterTensorType): Promise<void> {
  if (!ADAPTER_TENSOR_TYPES.includes(outType)) throw new InvalidTrainingInputError(`outType must be one of ${ADAPTER_TENSOR_TYPES.join(', ')}.`);
  if (inputs.length === 0) throw new InvalidTrainingInputError('No adapters to merge.');
  for (const input of inputs) {
    if (!Number.isFinite(input.scale ?? 1)) throw new InvalidTrainingInputError(`The scale of ${input.path} is not a finite number.`);
  }
  try {
    await loadNativeTrainer().adapterMerge(inputs.map((i) => ({ path: i.path, scale: i.scale ?? 1 })), outPath, outType);
  } catch (error) {
    throw toTrainerError(error);
  }
}

/** Rewrites an adapter with other tensor types (e.g. F32 to Q8_0), keeping its values' meaning. */
export function convertAdapter(inPath: string, outPath: string, outType: AdapterTensorType): Promise<void> {
  return mergeAdapters([{ path: inPath, scale: 1 }], outPath, outType);
}

/**
 * 'compact' for files in the compact layout ('q4_k', 'q3_k'), which llama.cpp cannot read and
 * which must go through mergeAdapters first; 'llama' otherwise. Reads the header only.
 */
export async function adapterLayout(path: string): Promise<'llama' | 'compact'> {
  try {
    return await loadNativeTrainer().adapterLayout(path);
  } catch (error) {
    throw toTrainerError(error);
  }
}
