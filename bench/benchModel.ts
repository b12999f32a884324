// Models and arguments shared by the benchmarks. The Llama-3.2-1B-shaped model has random
// weights (compute cost does not depend on them) and is quantized to Q4_K_M by llama.cpp's own
// quantizer; the world model is the small trained model of ../shared/world.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { quantizeModel } from '../electron/core/trainer/quantizeModel.js';
import { fetchModel, realModels } from '../scripts/fetch-models.js';
import type { TinyModelSpec } from '../test/support/tinyModel.js';

/** The folder with package.json, from the source tree or from dist/. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'tsconfig.build.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: cannot find the repository root');
    dir = parent;
  }
  return dir;
}
export const repoRoot = findRepoRoot();

export const LLAMA_32_1B: TinyModelSpec = {
  arch: 'llama', vocab: 'llama-bpe', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192,
  nCtx: 4096, ropeBase: 500000, tiedOutput: true, type: 'f16', seed: 1,
};

export const WORLD_MODEL = resolve(repoRoot, '..', 'shared', 'world', 'model', 'world-20m-f16.gguf');
export const WORLD_DEV = resolve(repoRoot, '..', 'shared', 'world', 'dev');

/** `--name value` from the command line, else `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}
export const numberArg = (name: string, fallback: number): number => Number(arg(name, String(fallback)));

/**
 * The Llama-3.2-1B-shaped Q4_K_M model, made on first use in .cache/bench (a ~2.5 GB F16 file
 * is written, quantized, then deleted).
 */
export async function llama1bModel(): Promise<string> {
  const dir = join(repoRoot, '.cache', 'bench');
  mkdirSync(dir, { recursive: true });
  const q4 = join(dir, 'llama-3.2-1b-shape.q4_k_m.gguf');
  if (existsSync(q4)) return q4;
  const f16 = join(dir, 'llama-3.2-1b-shape.f16.gguf');
  let started = performance.now();
  if (!existsSync(f16)) {
    // The generator lives with the test fixtures (it needs scripts/llama-source.js, which is
    // not compiled into dist/), so the model is generated from the TypeScript sources.
    const { writeRandomModel } = await import('../test/support/tinyModel.js');
    writeRandomModel(f16, LLAMA_32_1B);
  }
  console.error(`bench: wrote ${f16} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  started = performance.now();
  await quantizeModel(f16, q4, 'q4_k_m', 2);
  console.error(`bench: quantized to Q4_K_M in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  rmSync(f16, { force: true });
  return q4;
}

/** The real models of scripts/real-models.json by short name: `--model smollm2`, `--model gemma3`. */
const REAL_MODELS: Record<string, string> = { smollm2: 'smollm2-135m-instruct', gemma3: 'gemma-3-270m' };

/** `--model world|1b|smollm2|gemma3|<path.gguf>`: the model a benchmark runs on (real ones fetched on first use). */
export async function benchModelPath(choice: string): Promise<string> {
  if (choice === 'world') return WORLD_MODEL;
  if (choice === '1b') return llama1bModel();
  const real = realModels().find((m) => m.id === REAL_MODELS[choice]);
  if (real) return fetchModel(real);
  return resolve(choice);
}

export const HOTPOTQA_DEV = resolve(repoRoot, '..', 'shared', 'real', 'hotpotqa', 'dev');

/** `--docs world|hotpotqa|<docs.jsonl>`: the documents a benchmark encodes or reads. */
export function benchDocsPath(choice: string): string {
  if (choice === 'world') return join(WORLD_DEV, 'docs.jsonl');
  if (choice === 'hotpotqa') return join(HOTPOTQA_DEV, 'docs.jsonl');
  return resolve(choice);
}

/** Mean of a list (0 for none). */
export const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0);

/** Deterministic pseudo-random token ids (weights are random, so text would add nothing). */
export function randomSequences(count: number, length: number, nVocab: number, seed: number, head: number): { tokens: number[]; lossMask?: number[] }[] {
  let s = seed >>> 0;
  const next = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s; };
  // With a head, the first `head` tokens are no targets, as the prompt's fixed head in the
  // encoder's sequences (trainingSequences.ts).
  const lossMask = head > 0 ? Array.from({ length }, (_, i) => (i >= head ? 1 : 0)) : undefined;
  return Array.from({ length: count }, () => ({ tokens: Array.from({ length }, () => next() % Math.min(nVocab, 128000)), lossMask }));
}
