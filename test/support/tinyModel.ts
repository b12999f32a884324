// Tiny random-weight GGUF models with real tokenizers, generated at test time (DESIGN §4). The
// tokenizer comes from llama.cpp's models/ggml-vocab-*.gguf in node-llama-cpp's bundle, so
// every code path runs on a real vocabulary and a real architecture; the weights are seeded
// noise, so outputs are gibberish but deterministic. Files are cached in .cache/fixtures by
// spec, so a test run generates each model once.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLlamaSource, repoRoot } from '../../scripts/llama-source.js';
import { readRawMetadata, writeGguf, type MetadataValue, type TensorSpec } from './ggufWriter.js';

export interface TinyModelSpec {
  arch: 'llama' | 'qwen2' | 'qwen3' | 'gemma3';
  vocab: 'llama-spm' | 'llama-bpe' | 'qwen2';
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtx: number;
  /** Default 10000. */
  ropeBase?: number;
  /** No output.weight: llama.cpp reuses token_embd. Default false. */
  tiedOutput?: boolean;
  /** Per-head size of q, k and v (attention.key_length/value_length). Default nEmbd / nHead. */
  headDim?: number;
  /** gemma3: attention.sliding_window (positions a local layer sees). Default: none. */
  slidingWindow?: number;
  /** gemma3: attention.sliding_window_pattern (every n-th layer is global). Default: llama.cpp's (6). */
  slidingWindowPattern?: number;
  type: 'f32' | 'f16';
  seed: number;
  /** Stored as tokenizer.chat_template when given. */
  chatTemplate?: string;
}

/** The world model's prompt format, so answering code can be tested on the same template. */
export const WORLD_CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}";

export const TINY_SPECS = {
  /** Llama-2 SentencePiece vocab, MHA, untied output: the shape of the world model, shrunk. */
  llamaSpm: { arch: 'llama', vocab: 'llama-spm', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 4, nFf: 128, nCtx: 512, type: 'f32', seed: 1, chatTemplate: WORLD_CHAT_TEMPLATE },
  /** Llama-3 BPE vocab with grouped-query attention and tied output. */
  llamaBpeGqa: { arch: 'llama', vocab: 'llama-bpe', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, nCtx: 512, ropeBase: 500000, tiedOutput: true, type: 'f32', seed: 2 },
  /** Qwen2: q/k/v biases, NEOX RoPE. */
  qwen2: { arch: 'qwen2', vocab: 'qwen2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, nCtx: 512, ropeBase: 1000000, tiedOutput: true, type: 'f32', seed: 3 },
  /** Qwen3: q/k RMS norms, NEOX RoPE. */
  qwen3: { arch: 'qwen3', vocab: 'qwen2', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, nCtx: 512, ropeBase: 1000000, type: 'f32', seed: 4 },
  /**
   * Gemma 3 (with the Llama-2 SentencePiece vocab: llama.cpp's models/ has no Gemma 3 vocab and
   * the Gemma 4 one has 262k tokens): head size != nEmbd / nHead, q/k norms, post-attention and
   * post-FFN norms, GEGLU, scaled embeddings, tied output; a window of 8 with layer 0 local and
   * layer 1 global, so the test texts (25+ tokens) reach past the window.
   */
  gemma3: { arch: 'gemma3', vocab: 'llama-spm', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, nCtx: 512, ropeBase: 1000000, tiedOutput: true, slidingWindow: 8, slidingWindowPattern: 2, type: 'f32', seed: 5 },
} satisfies Record<string, TinyModelSpec>;

const GENERATOR_VERSION = 1;

export function fixturesDir(): string {
  const dir = join(repoRoot, '.cache', 'fixtures');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Path of the GGUF for `spec`, generated on first use. */
export async function tinyModelPath(spec: TinyModelSpec): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, ...spec })).digest('hex').slice(0, 16);
  const path = join(fixturesDir(), `tiny-${spec.arch}-${spec.vocab}-${spec.type}-${key}.gguf`);
  if (!existsSync(path)) writeRandomModel(path, spec);
  return path;
}

/** Counter-based uniform noise in [-1, 1): the same value for an index however it is chunked. */
function noise(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index, 0x9e3779b1)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return z / 2147483648 - 1;
}

function seedFor(spec: TinyModelSpec, name: string): number {
  return createHash('sha256').update(`${spec.seed}:${name}`).digest().readUInt32LE(0);
}

/** Writes a model of `spec`'s shape; exported for benchmarks that need real-size models. */
export function writeRandomModel(path: string, spec: TinyModelSpec): void {
  const vocabPath = join(ensureLlamaSource(), 'models', `ggml-vocab-${spec.vocab}.gguf`);
  const vocabMeta = readRawMetadata(vocabPath);
  const tokensRaw = vocabMeta.get('tokenizer.ggml.tokens');
  if (!tokensRaw) throw new Error(`${vocabPath} has no tokenizer.ggml.tokens`);
  const nVocab = Number(tokensRaw.readBigUInt64LE(8)); // type tag u32, elem type u32, count u64
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  if (!Number.isInteger(headDim) || spec.nHead % spec.nHeadKv !== 0) throw new Error('nEmbd must divide by nHead (or headDim be given) and nHead by nHeadKv');

  const a = spec.arch;
  const meta = new Map<string, MetadataValue>([
    ['general.architecture', { type: 'string', value: a }],
    ['general.name', { type: 'string', value: `tiny-${a}-${spec.vocab}` }],
    ['general.file_type', { type: 'u32', value: spec.type === 'f32' ? 0 : 1 }],
    [`${a}.context_length`, { type: 'u32', value: spec.nCtx }],
    [`${a}.embedding_length`, { type: 'u32', value: spec.nEmbd }],
    [`${a}.block_count`, { type: 'u32', value: spec.nLayer }],
    [`${a}.feed_forward_length`, { type: 'u32', value: spec.nFf }],
    [`${a}.attention.head_count`, { type: 'u32', value: spec.nHead }],
    [`${a}.attention.head_count_kv`, { type: 'u32', value: spec.nHeadKv }],
    [`${a}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: 1e-5 }],
    [`${a}.rope.freq_base`, { type: 'f32', value: spec.ropeBase ?? 10000 }],
    [`${a}.rope.dimension_count`, { type: 'u32', value: headDim }],
  ]);
  if (a === 'qwen3' || spec.headDim !== undefined) {
    meta.set(`${a}.attention.key_length`, { type: 'u32', value: headDim });
    meta.set(`${a}.attention.value_length`, { type: 'u32', value: headDim });
  }
  if (spec.slidingWindow !== undefined) meta.set(`${a}.attention.sliding_window`, { type: 'u32', value: spec.slidingWindow });
  if (spec.slidingWindowPattern !== undefined) meta.set(`${a}.attention.sliding_window_pattern`, { type: 'u32', value: spec.slidingWindowPattern });
  for (const [key, bytes] of vocabMeta) if (key.startsWith('tokenizer.')) meta.set(key, { type: 'raw', bytes });
  if (spec.chatTemplate) meta.set('tokenizer.chat_template', { type: 'string', value: spec.chatTemplate });

  const tensors: TensorSpec[] = [];
  const matrix = (name: string, inDim: number, outDim: number, scale = 1 / Math.sqrt(inDim), type = spec.type) => {
    const seed = seedFor(spec, name);
    const amp = scale * Math.sqrt(3); // uniform with standard deviation `scale`
    tensors.push({ name, shape: [inDim, outDim], type, fill: (out, offset) => { for (let i = 0; i < out.length; i++) out[i] = amp * noise(seed, offset + i); } });
  };
  const vector = (name: string, n: number, center: number, spread: number) => {
    const seed = seedFor(spec, name);
    tensors.push({ name, shape: [n], type: 'f32', fill: (out, offset) => { for (let i = 0; i < out.length; i++) out[i] = center + spread * noise(seed, offset + i); } });
  };

  matrix('token_embd.weight', spec.nEmbd, nVocab, 1);
  vector('output_norm.weight', spec.nEmbd, 1, 0.1);
  if (!spec.tiedOutput) matrix('output.weight', spec.nEmbd, nVocab);
  const qDim = headDim * spec.nHead;
  const kvDim = headDim * spec.nHeadKv;
  for (let l = 0; l < spec.nLayer; l++) {
    const p = `blk.${l}.`;
    vector(`${p}attn_norm.weight`, spec.nEmbd, 1, 0.1);
    matrix(`${p}attn_q.weight`, spec.nEmbd, qDim);
    matrix(`${p}attn_k.weight`, spec.nEmbd, kvDim);
    matrix(`${p}attn_v.weight`, spec.nEmbd, kvDim);
    if (a === 'qwen2') {
      vector(`${p}attn_q.bias`, qDim, 0, 0.1);
      vector(`${p}attn_k.bias`, kvDim, 0, 0.1);
      vector(`${p}attn_v.bias`, kvDim, 0, 0.1);
    }
    if (a === 'qwen3' || a === 'gemma3') {
      vector(`${p}attn_q_norm.weight`, headDim, 1, 0.1);
      vector(`${p}attn_k_norm.weight`, headDim, 1, 0.1);
    }
    matrix(`${p}attn_output.weight`, qDim, spec.nEmbd);
    // gemma3's GGUF norm weights already hold 1 + w (llama.cpp's converter adds the 1).
    if (a === 'gemma3') vector(`${p}post_attention_norm.weight`, spec.nEmbd, 1, 0.1);
    vector(`${p}ffn_norm.weight`, spec.nEmbd, 1, 0.1);
    matrix(`${p}ffn_gate.weight`, spec.nEmbd, spec.nFf);
    matrix(`${p}ffn_up.weight`, spec.nEmbd, spec.nFf);
    matrix(`${p}ffn_down.weight`, spec.nFf, spec.nEmbd);
    if (a === 'gemma3') vector(`${p}post_ffw_norm.weight`, spec.nEmbd, 1, 0.1);
  }
  writeGguf(path, meta, tensors);
}
