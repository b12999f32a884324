// Random LoRA adapters in llama.cpp's GGUF layout, for runtime tests that must not depend on the
// native trainer: lora_a is [in, rank] and lora_b is [rank, out] in ggml order.
import { writeGguf, type MetadataValue, type TensorSpec } from './ggufWriter.js';
import type { TinyModelSpec } from './tinyModel.js';

export interface RandomLoraOptions {
  rank: number;
  alpha: number;
  seed: number;
  /** Standard deviation of A and B entries. Default 0.1. */
  scale?: number;
  targets?: ('ffn_gate' | 'ffn_up' | 'ffn_down')[];
}

export function writeRandomLora(path: string, model: TinyModelSpec, options: RandomLoraOptions): void {
  const meta = new Map<string, MetadataValue>([
    ['general.architecture', { type: 'string', value: model.arch }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'f32', value: options.alpha }],
  ]);
  const shapes = { ffn_gate: [model.nEmbd, model.nFf], ffn_up: [model.nEmbd, model.nFf], ffn_down: [model.nFf, model.nEmbd] } as const;
  const amp = (options.scale ?? 0.1) * Math.sqrt(3);
  let seed = options.seed >>> 0;
  const next = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed / 2 ** 32) * 2 - 1; };
  const tensors: TensorSpec[] = [];
  for (let l = 0; l < model.nLayer; l++) {
    for (const target of options.targets ?? ['ffn_gate', 'ffn_up', 'ffn_down']) {
      const [inDim, outDim] = shapes[target];
      const fill = (out: Float32Array) => { for (let i = 0; i < out.length; i++) out[i] = amp * next(); };
      tensors.push({ name: `blk.${l}.${target}.weight.lora_a`, shape: [inDim, options.rank], type: 'f32', fill });
      tensors.push({ name: `blk.${l}.${target}.weight.lora_b`, shape: [options.rank, outDim], type: 'f32', fill });
    }
  }
  writeGguf(path, meta, tensors);
}
