// node-llama-cpp as the reference for the trainer's parity tests: full logits of every
// position, with or without LoRA adapters, computed by llama.cpp itself.
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { setContextAdapters } from '../../electron/core/llm/loraBinding.js';

let llamaPromise: Promise<Llama> | undefined;

export function referenceLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  return llamaPromise;
}

export interface ReferenceOptions {
  adapters?: { path: string; scale?: number }[];
  /** Default false: the trainer's graph is llama.cpp's non-flash-attention path. */
  flashAttention?: boolean;
  threads?: number;
  /**
   * Leading tokens evaluated before the adapters are set, as answers read a prompt's head; their
   * rows of logits are left 0. Default 0.
   */
  plainHead?: number;
}

/** Logits row-major [n_tokens][n_vocab] as node-llama-cpp computes them. */
export async function referenceLogits(model: LlamaModel, tokens: number[], options: ReferenceOptions = {}): Promise<Float32Array> {
  const head = options.plainHead ?? 0;
  const adapters = (options.adapters ?? []).map((a) => ({ filePath: a.path, scale: a.scale ?? 1 }));
  const context = await model.createContext({
    contextSize: Math.max(64, tokens.length + 8),
    sequences: 1,
    batchSize: Math.max(64, tokens.length),
    flashAttention: options.flashAttention ?? false,
    threads: options.threads ?? 2,
    ...(adapters.length && head === 0 ? { lora: { adapters } } : {}),
  });
  try {
    const sequence = context.getSequence();
    if (head > 0) {
      await sequence.evaluateWithoutGeneratingNewTokens(tokens.slice(0, head) as never);
      await setContextAdapters(context, adapters);
    }
    const results = await sequence.controlledEvaluate(tokens.slice(head).map((t) => [t as never, { generateNext: { logits: true } }]));
    const vocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    const out = new Float32Array(tokens.length * vocab);
    results.forEach((r, i) => {
      const logits = r?.next.logits;
      if (!logits) throw new Error(`node-llama-cpp returned no logits for position ${head + i}`);
      for (const [token, value] of logits) out[(head + i) * vocab + (token as number)] = value;
    });
    return out;
  } finally {
    await context.dispose();
  }
}

/** Mean per-token NLL of the sequences' targets (every token after the first, or lossMask). */
export async function referenceLoss(model: LlamaModel, sequences: { tokens: number[]; lossMask?: number[] }[], options: ReferenceOptions = {}): Promise<number> {
  let nll = 0;
  let count = 0;
  for (const seq of sequences) {
    const logits = await referenceLogits(model, seq.tokens, options);
    const nVocab = logits.length / seq.tokens.length;
    for (let t = 0; t + 1 < seq.tokens.length; t++) {
      if (seq.lossMask && seq.lossMask[t + 1] === 0) continue;
      const row = logits.subarray(t * nVocab, (t + 1) * nVocab);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      nll += max + Math.log(sum) - row[seq.tokens[t + 1]!]!;
      count++;
    }
  }
  return nll / count;
}

/** Largest |a - b| and the range (max - min) of b. */
export function logitsDiff(a: Float32Array, b: Float32Array): { maxAbs: number; range: number; relative: number } {
  if (a.length !== b.length) throw new Error(`logits lengths differ: ${a.length} vs ${b.length}`);
  let maxAbs = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    min = Math.min(min, b[i]!);
    max = Math.max(max, b[i]!);
  }
  return { maxAbs, range: max - min, relative: maxAbs / (max - min) };
}
