// LoRA adapters in llama.cpp's GGUF layout for tests: random ones for runtime tests that must not
// depend on the native trainer, and reading/writing F32 tensors to probe trained ones. lora_a is
// [in, rank] and lora_b is [rank, out] in ggml order.
import { closeSync, openSync, readSync } from 'node:fs';
import { readGgufFileInfo } from 'node-llama-cpp';
import { writeGguf, type MetadataValue, type TensorSpec } from './ggufWriter.js';
import type { TinyModelSpec } from './tinyModel.js';

export interface LoraTensor { shape: number[]; data: Float32Array }

function adapterMetadata(arch: string, alpha: number): Map<string, MetadataValue> {
  return new Map<string, MetadataValue>([
    ['general.architecture', { type: 'string', value: arch }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'f32', value: alpha }],
  ]);
}

/** The tensors of an F32 adapter file (as the trainer writes with outType 'f32'), by name. */
export async function readLoraTensors(path: string): Promise<Map<string, LoraTensor>> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const out = new Map<string, LoraTensor>();
  const fd = openSync(path, 'r');
  try {
    for (const t of info.fullTensorInfo ?? []) {
      if (t.ggmlType !== 0) throw new Error(`${path}: tensor ${t.name} is not F32`);
      const shape = t.dimensions.map(Number);
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      readSync(fd, new Uint8Array(data.buffer), 0, data.byteLength, Number(t.fileOffset));
      out.set(t.name, { shape, data });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Writes an F32 adapter with exactly these tensors. */
export function writeLoraTensors(path: string, arch: string, alpha: number, tensors: Map<string, LoraTensor>): void {
  const specs: TensorSpec[] = [...tensors].map(([name, t]) => ({
    name, shape: t.shape, type: 'f32', fill: (out, offset) => out.set(t.data.subarray(offset, offset + out.length)),
  }));
  writeGguf(path, adapterMetadata(arch, alpha), specs);
}

export interface RandomLoraOptions {
  rank: number;
  alpha: number;
  seed: number;
  /** Standard deviation of A and B entries. Default 0.1. */
  scale?: number;
  targets?: ('ffn_gate' | 'ffn_up' | 'ffn_down')[];
}

export function writeRandomLora(path: string, model: TinyModelSpec, options: RandomLoraOptions): void {
  const meta = adapterMetadata(model.arch, options.alpha);
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
