// Quantized variants of the tiny fixtures (Q8_0, Q4_K_M, ...), made with llama.cpp's own
// quantizer through the trainer addon (quantizeModel) and cached next to the F32 files.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { quantizeModel, type QuantizeType } from '../../electron/core/trainer/quantizeModel.js';
import { tinyModelPath, type TinyModelSpec } from './tinyModel.js';

/**
 * Path of `spec`'s model quantized to `type`, generated on first use. K-quants need rows that
 * divide by 256 (nEmbd, nFf); llama.cpp falls back to a legacy type for other tensors.
 */
export async function quantizedModelPath(spec: TinyModelSpec, type: QuantizeType): Promise<string> {
  const source = await tinyModelPath(spec);
  const path = source.replace(/\.gguf$/, `.${type}.gguf`);
  if (existsSync(path)) return path;
  // Quantize to a temp name and rename, so an interrupted run never leaves a partial fixture.
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await quantizeModel(source, temp, type, 2);
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
  return path;
}
