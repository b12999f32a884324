// Combine's decisions with a scripted model: which answer each source writes and how likely
// each source finds each answer. Checks the passages' answer drafted by the adapters' (the check
// pass and decoding on from the first disagreement), the product-of-experts choice, and that a
// source with no answer never wins on the likelihood of a lone end of text.
import type { Token } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { Answerer } from '../../electron/core/answer/answerer.js';
import type { GenerateOptions, GenerationResult, LlmRuntime } from '../../electron/core/llm/llmRuntime.js';
import { DEFAULT_PROFILE } from '../../electron/core/llm/promptProfile.js';
import type { Retriever } from '../../electron/core/retrieval/retriever.js';

const EOS = 0;
// Words are tokens 1..n of this vocabulary; the prompt's own tokens are 100 + its length.
const WORDS = ['', 'Marrowgate', 'Tessaly', 'by', 'the', 'sea'];

interface Script {
  /** What each source writes, in words ('' for nothing), ended by EOS. */
  passages: string;
  adapters: string;
  /** Log-probability each source gives each answer: [under passages, under adapters]. */
  logProbs: Record<string, [number, number]>;
}

function tokensOf(text: string): Token[] {
  return [...(text ? text.split(' ').map((w) => WORDS.indexOf(w) as Token) : []), EOS as Token];
}

function textOf(tokens: Token[]): string {
  return tokens.filter((t) => t !== EOS).map((t) => WORDS[t]).join(' ');
}

/** A runtime whose greedy decoding writes the script's answers; records what ran. */
function scriptedRuntime(script: Script, calls: string[]) {
  const source = (adapters: unknown[] | undefined) => ((adapters?.length ?? 0) > 0 ? 'adapters' : 'passages');
  const isPassagePrompt = (prompt: Token[]) => prompt.length > 20;
  const runtime = {
    profile: DEFAULT_PROFILE,
    contextSize: 512,
    promptTokens: (turns: { content: string }[]) => Array.from({ length: turns[0]!.content.length > 200 ? 40 : 10 }, (_, i) => (100 + i) as Token),
    detokenize: textOf,
    isEndOfGeneration: (t: Token) => t === EOS,
    async setAdapters() {},
    async generate(options: GenerateOptions): Promise<GenerationResult> {
      if (options.tokens.length >= runtime.contextSize) throw new Error('The prompt is too long.');
      const from = source(options.adapters);
      const answer = tokensOf(from === 'adapters' ? script.adapters : script.passages);
      // A prompt that already holds the start of the answer goes on from there.
      const written = options.tokens.filter((t) => t < 100).length;
      const tokens = answer.slice(written);
      calls.push(`generate ${from} from ${written}`);
      return {
        text: textOf(tokens), tokens, promptTokens: options.tokens.length, evaluatedPromptTokens: options.tokens.length,
        generatedTokens: tokens.filter((t) => t !== EOS).length, stopReason: 'eos', timings: { adapterMs: 0, promptMs: 0, generateMs: 0 },
      };
    },
    async checkContinuation(prompt: Token[], continuation: Token[], adapters: unknown[]) {
      calls.push(`check under ${source(adapters)}`);
      const greedy = tokensOf(isPassagePrompt(prompt) ? script.passages : script.adapters);
      return { logProb: runtime.score(prompt, continuation, adapters), greedy: continuation.map((_, i) => greedy[i] ?? EOS) };
    },
    async continuationLogProb(prompt: Token[], continuation: Token[], adapters: unknown[]) {
      calls.push(`score under ${source(adapters)}`);
      return runtime.score(prompt, continuation, adapters);
    },
    score(prompt: Token[], continuation: Token[], adapters: unknown[]): number {
      const [underPassages, underAdapters] = script.logProbs[textOf(continuation)] ?? [-50, -50];
      return source(adapters) === 'adapters' && !isPassagePrompt(prompt) ? underAdapters : underPassages;
    },
  };
  return { runtime: runtime as unknown as LlmRuntime, calls };
}

/** `calls` collects what ran, also when combine fails. */
async function combine(script: Script, contextSize = 512, calls: string[] = []) {
  const { runtime } = scriptedRuntime(script, calls);
  (runtime as { contextSize: number }).contextSize = contextSize;
  const passage = 'Orla Venkatesh was born in Marrowgate, a fishing town by the sea, and later studied marine biology at the University of Tessaly, where she taught for thirty years before she retired to the coast.';
  const retriever = {
    retrieve: async () => ({ hits: [{ passageId: 1, documentId: 1, documentTitle: 'Orla Venkatesh', position: 0, score: 5, snippet: passage, text: passage }], method: 'bm25', bridge: null }),
  } as unknown as Retriever;
  const answerer = new Answerer(retriever, () => runtime, { adaptersFor: () => new Map([[1, '/adapters/1.gguf']]), requestEncoding: () => undefined });
  const result = await answerer.answer({ question: 'Where was Orla Venkatesh born?', mode: 'combine' });
  return { result, calls };
}

describe('combine', () => {
  it('when the passages\' check agrees with the adapters\' answer, keeps it without decoding or scoring again', async () => {
    const { result, calls } = await combine({ passages: 'Marrowgate by the sea', adapters: 'Marrowgate by the sea', logProbs: {} });
    expect(calls).toEqual(['generate adapters from 0', 'check under passages']);
    expect(result.candidates).toEqual({ passages: { answer: 'Marrowgate by the sea', logProb: null }, adapters: { answer: 'Marrowgate by the sea', logProb: null }, kept: 'passages' });
  });

  it('decodes the passages\' answer on from the first token where they disagree, and keeps the likelier under both', async () => {
    const { result, calls } = await combine({
      passages: 'Marrowgate by the sea', adapters: 'Marrowgate Tessaly',
      // Passages' answer: -1 + -9 = -10; adapters': -6 + -2 = -8.
      logProbs: { 'Marrowgate by the sea': [-1, -9], 'Marrowgate Tessaly': [-6, -2] },
    });
    // One token agreed, the second is the check's: the passages go on from two written tokens.
    expect(calls).toEqual(['generate adapters from 0', 'check under passages', 'generate passages from 2', 'score under passages', 'score under adapters', 'score under adapters']);
    expect(result.candidates).toEqual({ passages: { answer: 'Marrowgate by the sea', logProb: -10 }, adapters: { answer: 'Marrowgate Tessaly', logProb: -8 }, kept: 'adapters' });
    expect(result.answer).toBe('Marrowgate Tessaly');
  });

  it('keeps the passages\' answer on a tie, and stops where the check says the passages end', async () => {
    const { result, calls } = await combine({ passages: 'Marrowgate', adapters: 'Marrowgate Tessaly', logProbs: { 'Marrowgate Tessaly': [-1, -3], Marrowgate: [-2, -2] } });
    expect(calls.filter((c) => c.startsWith('generate passages'))).toEqual([]);
    expect(result.candidates?.passages).toEqual({ answer: 'Marrowgate', logProb: -4 });
    expect(result.candidates?.adapters).toEqual({ answer: 'Marrowgate Tessaly', logProb: -4 });
    expect(result.candidates?.kept).toBe('passages');
  });

  it('fails on a passages\' prompt that fills the context before the adapters answer', async () => {
    // The scripted passages' prompt has 40 tokens.
    const failed: string[] = [];
    await expect(combine({ passages: 'Marrowgate', adapters: 'Tessaly', logProbs: {} }, 40, failed)).rejects.toThrow('too long');
    expect(failed).toEqual([]);
    // One token of room: the passages' answer is cut there.
    const { calls } = await combine({ passages: 'Marrowgate', adapters: 'Marrowgate', logProbs: {} }, 41);
    expect(calls.slice(0, 2)).toEqual(['generate adapters from 0', 'check under passages']);
  });

  it('never keeps an empty answer over one that says something, however likely its end of text', async () => {
    for (const [passages, adapters, kept] of [['Marrowgate', '', 'passages'], ['', 'Tessaly', 'adapters']] as const) {
      const { result, calls } = await combine({ passages, adapters, logProbs: { '': [-0.1, -0.1], Marrowgate: [-5, -5], Tessaly: [-5, -5] } });
      expect(result.candidates?.kept).toBe(kept);
      expect(result.answer).toBe(passages || adapters);
      expect(calls.some((c) => c.startsWith('score'))).toBe(false);
    }
  });
});
