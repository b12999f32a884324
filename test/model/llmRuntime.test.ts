// The inference runtime on a tiny random-weight llama model with the real Llama-2 tokenizer.
import type { Token } from 'node-llama-cpp';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadedAdapterPaths, unloadAdapter, type AdapterApplication } from '../../electron/core/llm/loraBinding.js';
import { LlmRuntime } from '../../electron/core/llm/llmRuntime.js';
import { renderQuestion } from '../../electron/core/llm/promptProfile.js';
import { convertAdapter } from '../../electron/core/trainer/adapterFiles.js';
import { writeRandomLora } from '../support/loraFile.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';
import { referenceLoss } from '../native/referenceLlama.js';

let dir: string;
let runtime: LlmRuntime;
let loraA: string;
let loraB: string;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paramkb-runtime-'));
  runtime = await LlmRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 2, useGpu: false, contextSize: 512 });
  loraA = join(dir, 'a.gguf');
  loraB = join(dir, 'b.gguf');
  writeRandomLora(loraA, TINY_SPECS.llamaSpm, { rank: 2, alpha: 32, seed: 11, scale: 0.3 });
  writeRandomLora(loraB, TINY_SPECS.llamaSpm, { rank: 2, alpha: 32, seed: 12, scale: 0.3 });
});
afterAll(async () => {
  await runtime?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('LlmRuntime', () => {
  it('renders prompts with the chat template and tokenizes special tokens once', () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Hello' }]);
    expect(tokens[0]).toBe(1); // BOS from the template's {{ bos_token }}
    expect(tokens.filter((t) => t === 1)).toHaveLength(1);
    const text = runtime.model.detokenize(tokens, true);
    expect(text).toContain('### Instruction:\nHello\n\n### Response:\n');
  });

  it('an adapter changes the logits and removing it restores the base logits exactly', async () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]);
    const last = tokens.length - 1;
    const [base] = await runtime.logitsAt(tokens, [last]);
    const [withA] = await runtime.logitsAt(tokens, [last], [{ filePath: loraA, scale: 1 }]);
    const [withAB] = await runtime.logitsAt(tokens, [last], [{ filePath: loraA, scale: 1 }, { filePath: loraB, scale: 1 }]);
    const [halfA] = await runtime.logitsAt(tokens, [last], [{ filePath: loraA, scale: 0.5 }]);
    const [again] = await runtime.logitsAt(tokens, [last], []);
    expect(maxAbsDiff(base!, withA!)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(withA!, withAB!)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(withA!, halfA!)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(base!, again!)).toBe(0);
  });

  it('clears the KV state when the adapter set changes between generations', async () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Tell me about Quillon.' }]);
    const base1 = await runtime.generate({ tokens, maxTokens: 12 });
    const adapted = await runtime.generate({ tokens, maxTokens: 12, adapters: [{ filePath: loraA, scale: 1 }] });
    const base2 = await runtime.generate({ tokens, maxTokens: 12 });
    expect(base2.text).toBe(base1.text);
    expect(adapted.text).not.toBe(base1.text);
    // The same prompt without an adapter change reuses the cached prefix.
    const base3 = await runtime.generate({ tokens, maxTokens: 12 });
    expect(base3.text).toBe(base1.text);
    expect(base3.evaluatedPromptTokens).toBeLessThan(tokens.length);
  });

  it('streams text, stops at max tokens and is deterministic (greedy)', async () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Count to ten.' }]);
    const deltas: string[] = [];
    const result = await runtime.generate({ tokens, maxTokens: 16, onText: (d) => deltas.push(d) });
    expect(deltas.join('')).toBe(result.text);
    expect(result.generatedTokens).toBeLessThanOrEqual(16);
    expect(['max-tokens', 'eos']).toContain(result.stopReason);
    expect((await runtime.generate({ tokens, maxTokens: 16 })).text).toBe(result.text);
  });

  it('cancels a generation through its AbortSignal', async () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Write a long story.' }]);
    const controller = new AbortController();
    let seen = 0;
    const result = await runtime.generate({ tokens, maxTokens: 200, signal: controller.signal, onText: () => { if (++seen === 3) controller.abort(); } });
    expect(result.stopReason).toBe('cancelled');
    expect(result.generatedTokens).toBeLessThan(10);
  });

  it('unloads an adapter that is no longer applied', async () => {
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Hi' }]);
    await runtime.generate({ tokens, maxTokens: 2, adapters: [{ filePath: loraB, scale: 1 }] });
    await runtime.generate({ tokens, maxTokens: 2, adapters: [] });
    expect(loadedAdapterPaths(runtime.context)).toContain(loraB);
    await unloadAdapter(runtime.context, loraB);
    expect(loadedAdapterPaths(runtime.context)).not.toContain(loraB);
    // It loads again from disk when needed.
    await runtime.generate({ tokens, maxTokens: 2, adapters: [{ filePath: loraB, scale: 1 }] });
    expect(loadedAdapterPaths(runtime.context)).toContain(loraB);
  });

  it('refuses a corrupt adapter and an adapter of another shape with a clear error', async () => {
    const corrupt = join(dir, 'corrupt.gguf');
    writeFileSync(corrupt, 'GGUF\u0003\u0000\u0000\u0000garbage');
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Hi' }]);
    await expect(runtime.generate({ tokens, maxTokens: 2, adapters: [{ filePath: corrupt, scale: 1 }] })).rejects.toMatchObject({ code: 'adapter-load-failed' });
    const wrongShape = join(dir, 'wrong.gguf');
    writeRandomLora(wrongShape, { ...TINY_SPECS.llamaSpm, nFf: 96 }, { rank: 2, alpha: 32, seed: 1 });
    await expect(runtime.generate({ tokens, maxTokens: 2, adapters: [{ filePath: wrongShape, scale: 1 }] })).rejects.toMatchObject({ code: 'adapter-load-failed' });
    // The runtime still works afterwards.
    expect((await runtime.generate({ tokens, maxTokens: 2 })).generatedTokens).toBeGreaterThan(0);
  });

  it('scores a continuation with the log-probabilities of the full softmax, from a kept prompt as from scratch', async () => {
    const prompt = runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]);
    const generated = await runtime.generate({ tokens: prompt, maxTokens: 6, adapters: [{ filePath: loraA, scale: 1 }] });
    expect(runtime.model.detokenize(generated.tokens.filter((t) => !runtime.model.isEogToken(t)))).toBe(generated.text);
    const continuation = runtime.tokenize(' Marrowgate, by the sea.');
    const all = prompt.concat(continuation);
    const positions = continuation.map((_, i) => prompt.length - 1 + i);
    for (const adapters of [[], [{ filePath: loraA, scale: 1 }]]) {
      const rows = await runtime.logitsAt(all, positions, adapters);
      const expected = rows.reduce((sum, row, i) => {
        const max = Math.max(...row);
        const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        return sum + row[continuation[i]!]! - max - logSum;
      }, 0);
      // logitsAt left the sequence empty: this call evaluates the prompt; the next one keeps it.
      const fromScratch = await runtime.continuationLogProb(prompt, continuation, adapters);
      const fromKeptPrompt = await runtime.continuationLogProb(prompt, continuation, adapters);
      expect(fromScratch).toBeLessThan(-1);
      expect(Math.abs(fromScratch - expected)).toBeLessThan(1e-3);
      expect(fromKeptPrompt).toBeCloseTo(fromScratch, 4);
    }
    // The greedy continuation is the likeliest one-token continuation there is.
    const greedyFirst = await runtime.continuationLogProb(prompt, generated.tokens.slice(0, 1), [{ filePath: loraA, scale: 1 }]);
    const other = await runtime.continuationLogProb(prompt, continuation.slice(0, 1), [{ filePath: loraA, scale: 1 }]);
    expect(greedyFirst).toBeGreaterThanOrEqual(other);
  });

  it('reads a question prompt\'s fixed head without the adapters, and keeps it for the next set', async () => {
    const prompt = runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, 'Where was Orla born?', []) }]);
    const head = runtime.promptHeadLength(prompt);
    expect(head).toBeGreaterThan(3);
    expect(head).toBeLessThan(prompt.length - 3);
    // Every question of the kind shares it; a prompt without the instruction has none.
    expect(runtime.promptHeadLength(runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, '1984?', []) }]))).toBe(head);
    expect(runtime.promptHeadLength(runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]))).toBe(0);

    const continuation = runtime.tokenize(' Marrowgate, by the sea.');
    const score = await runtime.continuationLogProb(prompt, continuation, [{ filePath: loraA, scale: 1 }]);
    // llama.cpp evaluating the head before the adapter is set (this runtime's attention settings):
    // its mean NLL over the continuation's tokens, as a sum of log-probabilities.
    const all = prompt.concat(continuation);
    const lossMask = all.map((_, i) => (i >= prompt.length ? 1 : 0));
    const reference = -continuation.length * await referenceLoss(runtime.model, [{ tokens: all, lossMask }], { adapters: [{ path: loraA }], plainHead: head, threads: 2, flashAttention: true });
    expect(Math.abs(score - reference)).toBeLessThan(1e-4);

    // Another adapter set evaluates the question only: the head is the same for every set.
    const other = await runtime.generate({ tokens: prompt, maxTokens: 2, adapters: [{ filePath: loraB, scale: 1 }] });
    expect(other.evaluatedPromptTokens).toBe(prompt.length - head);
  });

  it('checks a continuation in one pass: its greedy tokens are what greedy decoding writes', async () => {
    // A plain prompt, and a question prompt whose head the adapters do not read.
    const prompts = [runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]), runtime.promptTokens([{ role: 'user', content: renderQuestion(runtime.profile, 'Where was Orla born?', []) }])];
    const cases: [Token[], AdapterApplication[]][] = prompts.flatMap((p) => [[p, []], [p, [{ filePath: loraA, scale: 1 }]]]);
    for (const [prompt, adapters] of cases) {
      const generated = await runtime.generate({ tokens: prompt, maxTokens: 8, adapters });
      const itself = await runtime.checkContinuation(prompt, generated.tokens, adapters);
      expect(itself.greedy).toEqual(generated.tokens);
      expect(itself.logProb).toBeCloseTo(await runtime.continuationLogProb(prompt, generated.tokens, adapters), 4);
      // A continuation that leaves greedy's path: the check names greedy's token where it left.
      const other = runtime.tokenize(' Marrowgate, by the sea.');
      const checked = await runtime.checkContinuation(prompt, other, adapters);
      const first = other.findIndex((t, i) => t !== checked.greedy[i]);
      expect(first).toBeGreaterThanOrEqual(0);
      const rest = await runtime.generate({ tokens: prompt.concat(other.slice(0, first)), maxTokens: 1, adapters });
      expect(rest.tokens[0]).toBe(checked.greedy[first]);
    }
  });
});

describe('a runtime with two sequences', () => {
  it('answers with adapters on the sequence that holds the prompt head, however much else it holds', { timeout: 20_000 }, async () => {
    const two = await LlmRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 2, useGpu: false, contextSize: 512, sequences: 2 });
    try {
      const question = (text: string) => two.promptTokens([{ role: 'user', content: renderQuestion(two.profile, text, []) }]);
      const long = question(`Which of these harbours did Orla visit: ${Array.from({ length: 88 }, (_, i) => `Port ${i}`).join(', ')}?`);
      const head = two.promptHeadLength(long);
      expect(head).toBeGreaterThan(0);
      // Long enough that the tokens it would erase outweigh the head in the choice of sequence.
      expect(long.length - head).toBeGreaterThan(16 * head);
      await two.generate({ tokens: long, maxTokens: 4, adapters: [{ filePath: loraA, scale: 1 }] });
      // The other sequence is empty and would erase nothing, but lacks the head.
      const short = question('Where?');
      const answer = await two.generate({ tokens: short, maxTokens: 4, adapters: [{ filePath: loraB, scale: 1 }] });
      expect(answer.evaluatedPromptTokens).toBe(short.length - head);
    } finally {
      await two.dispose();
    }
  });

  it('keeps each adapter set\'s KV cache on its own sequence', async () => {
    const two = await LlmRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 2, useGpu: false, contextSize: 512, sequences: 2 });
    try {
      const adapters = [{ filePath: loraA, scale: 1 }];
      const plain = two.promptTokens([{ role: 'user', content: 'Tell me about Quillon, the harbour town.' }]);
      const adapted = two.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]);
      const withAdapters = await two.generate({ tokens: adapted, maxTokens: 8, adapters });
      const base = await two.generate({ tokens: plain, maxTokens: 8 });
      // Back to the adapters: their prompt is still cached on the other sequence.
      const again = await two.generate({ tokens: adapted, maxTokens: 8, adapters });
      expect(again.text).toBe(withAdapters.text);
      expect(again.evaluatedPromptTokens).toBe(1);
      expect((await two.generate({ tokens: plain, maxTokens: 8 })).evaluatedPromptTokens).toBe(1);
      // The same texts and scores as a one-sequence runtime, which clears its cache at every switch.
      expect((await runtime.generate({ tokens: adapted, maxTokens: 8, adapters })).text).toBe(withAdapters.text);
      expect((await runtime.generate({ tokens: plain, maxTokens: 8 })).text).toBe(base.text);
      expect(await two.continuationLogProb(adapted, withAdapters.tokens, adapters)).toBeCloseTo(await runtime.continuationLogProb(adapted, withAdapters.tokens, adapters), 4);
      // Work with different sets at once takes turns and gives what it gives alone.
      const [a, b] = await Promise.all([two.generate({ tokens: adapted, maxTokens: 8, adapters }), two.generate({ tokens: adapted, maxTokens: 8 })]);
      expect(a.text).toBe(withAdapters.text);
      expect(b.text).toBe((await runtime.generate({ tokens: adapted, maxTokens: 8 })).text);
    } finally {
      await two.dispose();
    }
  });
});

describe('merged adapter sets', () => {
  it('applies several adapters as one merged file with the same logits as one by one, and removes it when unloaded', async () => {
    const separate = await LlmRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 2, useGpu: false, contextSize: 512, mergeAdapterSets: false });
    try {
      const tokens = runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]);
      const last = tokens.length - 1;
      const set = [{ filePath: loraA, scale: 1 }, { filePath: loraB, scale: 0.5 }];
      const [oneByOne] = await separate.logitsAt(tokens, [last], set);
      expect(loadedAdapterPaths(separate.context).sort()).toEqual([loraA, loraB].sort());
      const [merged] = await runtime.logitsAt(tokens, [last], set);
      const [base] = await runtime.logitsAt(tokens, [last], []);
      expect(maxAbsDiff(oneByOne!, merged!)).toBeLessThan(1e-3);
      expect(maxAbsDiff(base!, merged!)).toBeGreaterThan(1e-2);
      // The default runtime loaded one merged file for the set, in its temporary folder.
      await runtime.setAdapters(set);
      const mergedFile = loadedAdapterPaths(runtime.context).find((p) => p !== loraA && p !== loraB)!;
      expect(existsSync(mergedFile)).toBe(true);
      await runtime.unloadAdapters();
      expect(existsSync(mergedFile)).toBe(false);
      expect(loadedAdapterPaths(runtime.context)).toEqual([]);
    } finally {
      await separate.dispose();
    }
  });

  it('expands a compact adapter (which llama.cpp cannot read) before applying it', async () => {
    const compact = join(dir, 'a.q3_k.gguf');
    await convertAdapter(loraA, compact, 'q3_k');
    const expanded = join(dir, 'a.expanded.gguf');
    await convertAdapter(compact, expanded, 'f32');
    const tokens = runtime.promptTokens([{ role: 'user', content: 'Where was Orla born?' }]);
    const last = tokens.length - 1;
    const [viaExpanded] = await runtime.logitsAt(tokens, [last], [{ filePath: expanded, scale: 0.7 }]);
    const [viaCompact] = await runtime.logitsAt(tokens, [last], [{ filePath: compact, scale: 0.7 }]);
    expect(maxAbsDiff(viaCompact!, viaExpanded!)).toBeLessThan(1e-5);
    const [loaded] = loadedAdapterPaths(runtime.context).filter((p) => p !== expanded);
    expect(loaded).toBeDefined();
    expect(loaded).not.toBe(compact);
    await runtime.unloadAdapters();
    expect(existsSync(loaded!)).toBe(false);
    expect(existsSync(compact)).toBe(true);
  });
});

describe('model files', () => {
  it('refuses a file that is not GGUF, and a missing file, with actionable errors', async () => {
    const notGguf = join(dir, 'model.gguf');
    writeFileSync(notGguf, 'this is a text file');
    await expect(LlmRuntime.load({ modelPath: notGguf, useGpu: false })).rejects.toMatchObject({ code: 'not-gguf' });
    await expect(LlmRuntime.load({ modelPath: join(dir, 'none.gguf'), useGpu: false })).rejects.toMatchObject({ code: 'model-missing' });
  });

  it('refuses a truncated GGUF without crashing', async () => {
    const truncated = join(dir, 'truncated.gguf');
    const { readFileSync } = await import('node:fs');
    writeFileSync(truncated, readFileSync(await tinyModelPath(TINY_SPECS.llamaSpm)).subarray(0, 100_000));
    await expect(LlmRuntime.load({ modelPath: truncated, useGpu: false })).rejects.toMatchObject({ code: 'model-load-failed' });
  });
});

describe('devices', () => {
  it('says what really runs the model: a GPU only when layers are on one, else the CPU and why', async () => {
    // Whatever this machine has (CI's has no GPU; Mesa's Vulkan may show a software renderer).
    const gpuRuntime = await LlmRuntime.load({ modelPath: await tinyModelPath(TINY_SPECS.llamaSpm), threads: 1, useGpu: true, contextSize: 256 });
    try {
      const info = gpuRuntime.info();
      if (info.gpu) {
        expect(info.gpuLayers).toBeGreaterThan(0);
        expect(info.gpuDevices.length).toBeGreaterThan(0);
      } else if (gpuRuntime.llama.gpu !== false) {
        expect(info.computeNote).toBeTruthy();
      }
      expect(info.layerCount).toBe(TINY_SPECS.llamaSpm.nLayer + 1);
    } finally {
      await gpuRuntime.dispose();
    }
  });
});
