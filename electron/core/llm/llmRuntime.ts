// The inference runtime around node-llama-cpp: loads a GGUF by path (GPU offload where a GPU
// exists, prebuilt binaries only), renders prompts with the model's chat template or its prompt
// profile's, streams greedy generations with cancel, and applies a set of LoRA adapters per
// request, clearing the KV state when that set changes.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { CancelledError, ModelError } from '../../shared/errors.js';
import type { ModelInfo } from '../../shared/types.js';
import { adapterLayout, mergeAdapters } from '../trainer/adapterFiles.js';
import { hardwareGpus } from '../../shared/devices.js';
import { describeCompute } from './computeDevice.js';
import { setContextAdapters, unloadAdapter, type AdapterApplication } from './loraBinding.js';
import { ChatTemplate, FALLBACK_CHAT_TEMPLATE, renderQuestion, resolvePromptProfile, type ChatTurn, type PromptProfile } from './promptProfile.js';

export interface LoadModelOptions {
  modelPath: string;
  /** Layers to offload to the GPU, or 'auto' (all that fit). Default 'auto'. */
  gpuLayers?: number | 'auto';
  /** CPU threads; 0 or absent picks from the machine. */
  threads?: number;
  /** Context window in tokens; default min(model's training context, 4096). */
  contextSize?: number;
  /** A prompt profile JSON file; default: the one beside the model, else the default profile. */
  profilePath?: string;
  /**
   * Sequences of the context, each with its own KV cache (its own `contextSize` of cells).
   * Augmentation generates on several in one batch. Adapters are set on the whole context, so
   * work with different adapter sets takes turns; each sequence keeps the KV cache of the set
   * it was computed with, so combine's passages and adapters each keep their prompt. Default 1.
   */
  sequences?: number;
  /** Use the GPU when one exists. Default true (PARAMKB_GPU=0 turns it off). */
  useGpu?: boolean;
  /**
   * Flash attention: on, off, or 'gpu' (on only where the model runs on a GPU). Default:
   * node-llama-cpp's (on where supported). ggml's CPU flash-attention kernel is slower than
   * plain attention when several short sequences decode together, as in augmentation, so the
   * encoder asks for 'gpu' (measured in bench/README.md, 2026-12-03 (later)).
   */
  flashAttention?: boolean | 'gpu';
  /** Memory for loaded adapters; the least recently used beyond it are unloaded. Default 256 MiB. */
  adapterCacheBytes?: number;
  /**
   * Merge several adapters applied together into one file (its rank the sum of theirs, see
   * native/src/adapter_merge.cpp) before applying it: llama.cpp then adds 4 small ops per
   * adapted weight instead of 4 per adapter and weight. Measured on the Llama-3.2-1B shape
   * (bench/README.md), decoding with 3 Q8_0 adapters runs at 0.93 of base speed merged and
   * 0.86 one by one (10 adapters: 0.90 and 0.68); a new set then costs ~25 ms to merge and load
   * instead of ~4. Merged files live in a temporary folder until the runtime is disposed.
   * Compact adapter files are expanded into that folder whatever this option says. Default true.
   */
  mergeAdapterSets?: boolean;
}

export interface GenerateOptions {
  /** Prompt tokens, as made by `promptTokens`. */
  tokens: Token[];
  /** Default 256. */
  maxTokens?: number;
  /**
   * Adapters applied for this generation; [] for the base model. Default []. A question
   * prompt's fixed head is read without them (see promptHeadLength).
   */
  adapters?: AdapterApplication[];
  signal?: AbortSignal;
  onText?: (delta: string) => void;
  /** Sample instead of greedy decoding (e.g. a retry that must differ). Default: greedy. */
  sampling?: { temperature: number; seed: number };
  /**
   * Awaited before the prompt is evaluated and before each next token: generation waits while
   * the promise it returns is pending (the encoder's augmentation waits here while an answer runs).
   */
  waitTurn?: () => Promise<void> | undefined;
}

export interface GenerationResult {
  text: string;
  /** The generated tokens, ending with the end-of-generation token when the model gave one. */
  tokens: Token[];
  promptTokens: number;
  /** Prompt tokens actually evaluated (the rest were reused from the KV cache). */
  evaluatedPromptTokens: number;
  generatedTokens: number;
  stopReason: 'eos' | 'max-tokens' | 'cancelled';
  timings: { adapterMs: number; promptMs: number; generateMs: number };
}

/** One key per adapter set, whatever the order of its adapters. */
function adapterSetKey(adapters: AdapterApplication[]): string {
  return adapters.map((a) => `${a.filePath}\u0000${a.scale}`).sort().join('\u0001');
}

/** How a sequence's KV cache was computed: its first `plainLength` tokens without adapters, the rest with set `key`. */
interface SequenceCache {
  key: string;
  plainLength: number;
}

function sameCache(cache: SequenceCache | undefined, key: string, plainHead: number): boolean {
  const { key: cacheKey, plainLength } = cache ?? { key: '', plainLength: Infinity };
  return cacheKey === key && (key === '' || plainLength === plainHead);
}

/** The number of leading tokens `a` and `b` share, at most `limit`. */
function sharedPrefix(a: readonly Token[], b: readonly Token[], limit: number): number {
  let n = 0;
  while (n < limit && n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** A node-llama-cpp instance and the GPU backend found on the machine, with its devices (used or not). */
interface LlamaInstance {
  llama: Llama;
  found: { backend: string | false; devices: string[] };
}

let llamaPromise: Promise<LlamaInstance> | null = null;
let llamaGpuSetting: boolean | null = null;

/**
 * The node-llama-cpp instance, from prebuilt binaries only: never downloads or compiles
 * llama.cpp. A GPU backend whose devices hold no real GPU (none, or only a software renderer)
 * is not used: the CPU build does the same work without it.
 */
function getLlamaInstance(useGpu: boolean): Promise<LlamaInstance> {
  if (llamaPromise && llamaGpuSetting === useGpu) return llamaPromise;
  llamaGpuSetting = useGpu;
  const load = (gpu: 'auto' | false) => getLlama({ gpu, build: 'never', usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.error });
  llamaPromise = (async (): Promise<LlamaInstance> => {
    const llama = await load(useGpu ? 'auto' : false);
    if (llama.gpu === false) return { llama, found: { backend: false, devices: [] } };
    const found = { backend: llama.gpu, devices: await llama.getGpuDeviceNames() };
    if (llama.gpu === 'metal' || hardwareGpus(found.devices).length > 0) return { llama, found };
    await llama.dispose();
    return { llama: await load(false), found };
  })().catch((error: unknown) => {
    llamaPromise = null;
    throw new ModelError('no-prebuilt-binary', `No prebuilt llama.cpp binary of node-llama-cpp works on this machine (${process.platform}-${process.arch}): ${(error as Error).message}. ParamKB never compiles llama.cpp itself; install on a supported platform.`, { cause: error });
  });
  return llamaPromise;
}

export async function getLlamaRuntime(useGpu = process.env.PARAMKB_GPU !== '0'): Promise<Llama> {
  return (await getLlamaInstance(useGpu)).llama;
}

/** A cheap, stable fingerprint of a model file: size + sha256 of its first and last 4 MiB. */
export function modelFingerprint(path: string): string {
  const size = statSync(path).size;
  const hash = createHash('sha256').update(String(size));
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(Math.min(4 * 1024 * 1024, size));
    readSync(fd, chunk, 0, chunk.length, 0);
    hash.update(chunk);
    readSync(fd, chunk, 0, chunk.length, size - chunk.length);
    hash.update(chunk);
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex').slice(0, 32);
}

/** Refuses files that are not GGUF before node-llama-cpp sees them. */
export function assertGgufFile(path: string): number {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    throw new ModelError('model-missing', `The model file ${path} does not exist or cannot be read.`);
  }
  const magic = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try { readSync(fd, magic, 0, 4, 0); } finally { closeSync(fd); }
  if (magic.toString('latin1') !== 'GGUF') {
    throw new ModelError('not-gguf', `${basename(path)} is not a GGUF model file. Open a .gguf file (for example a Q4_K_M quantization of an instruct model).`);
  }
  return size;
}

export class LlmRuntime {
  private currentAdapters: AdapterApplication[] = [];
  /** The adapter set that work in progress uses (withAdapters), set before it is applied. */
  private activeAdapterKey = '';
  private adapterUsers = 0;
  private readonly adapterWaiters: (() => void)[] = [];
  /** How each sequence's KV cache was computed (absent: empty, or all without adapters). */
  private readonly sequenceCache = new Map<LlamaContextSequence, SequenceCache>();
  /** The fixed heads of question prompts (see promptHeadLength), made on first use. */
  private promptHeads: Token[][] | null = null;
  /** The temporary folder of merged sets and expanded compact adapters, made on first use. */
  private derivedDir: string | null = null;
  /** Loaded adapter files, least recently used first, with their size. */
  private readonly adapterCache = new Map<string, number>();
  private readonly freeSequences: LlamaContextSequence[];
  private readonly waiting: ((sequence: LlamaContextSequence) => void)[] = [];
  private readonly chatTemplate: ChatTemplate;

  private constructor(
    private readonly found: LlamaInstance['found'],
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    sequences: LlamaContextSequence[],
    readonly modelPath: string,
    readonly fingerprint: string,
    readonly profile: PromptProfile,
    readonly profileSource: string,
    private readonly options: LoadModelOptions,
    private readonly sizeBytes: number,
  ) {
    this.freeSequences = sequences.slice();
    const meta = model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } };
    const modelTemplate = typeof meta.tokenizer?.chat_template === 'string' ? meta.tokenizer.chat_template : null;
    this.chatTemplate = new ChatTemplate(
      profile.chat_template ?? modelTemplate ?? FALLBACK_CHAT_TEMPLATE,
      profile.bos_token ?? model.tokens.bosString ?? '',
      profile.eos_token ?? model.tokens.eosString ?? '',
    );
  }

  static async load(options: LoadModelOptions): Promise<LlmRuntime> {
    const sizeBytes = assertGgufFile(options.modelPath);
    const { profile, source } = resolvePromptProfile(options.modelPath, options.profilePath);
    const { llama, found } = await getLlamaInstance(options.useGpu ?? process.env.PARAMKB_GPU !== '0');
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpuLayers ?? 'auto' });
    } catch (error) {
      throw new ModelError('model-load-failed', `${basename(options.modelPath)} could not be loaded: ${(error as Error).message}. It may be damaged, or an architecture this llama.cpp does not support.`, { cause: error });
    }
    const threads = options.threads && options.threads > 0 ? options.threads : Math.max(1, availableParallelism());
    let context: LlamaContext;
    try {
      const flashAttention = options.flashAttention === 'gpu' ? llama.gpu !== false && model.gpuLayers > 0 : options.flashAttention;
      context = await model.createContext({
        contextSize: Math.min(options.contextSize ?? 4096, model.trainContextSize),
        sequences: options.sequences ?? 1,
        threads,
        ...(flashAttention === undefined ? {} : { flashAttention }),
      });
    } catch (error) {
      await model.dispose();
      throw new ModelError('context-failed', `Not enough memory for the model's context: ${(error as Error).message}. Try fewer GPU layers or a smaller model.`, { cause: error });
    }
    const sequences = Array.from({ length: options.sequences ?? 1 }, () => context.getSequence());
    return new LlmRuntime(found, llama, model, context, sequences, options.modelPath, modelFingerprint(options.modelPath), profile, source, options, sizeBytes);
  }

  info(): ModelInfo {
    const compute = describeCompute(this.found.backend, this.found.devices, this.llama.gpu === false ? 0 : this.model.gpuLayers);
    return {
      path: this.modelPath,
      name: (this.model.fileInfo.metadata.general as { name?: string } | undefined)?.name ?? basename(this.modelPath),
      architecture: this.model.fileInfo.metadata.general?.architecture ?? null,
      sizeBytes: this.sizeBytes,
      contextSize: this.context.contextSize,
      gpu: compute.gpu,
      gpuDevices: compute.gpuDevices,
      computeNote: compute.note,
      gpuLayers: this.model.gpuLayers,
      layerCount: this.model.fileInsights.totalLayers,
      threads: this.options.threads ?? 0,
      loaded: true,
      error: null,
    };
  }

  /**
   * Renders a conversation with the chat template and tokenizes it (special tokens parsed, no
   * extra BOS). `prefill` is the start of the assistant's reply, written for the model (e.g.
   * "The answer is"); it is tokenized together with the prompt, as training sequences are.
   */
  promptTokens(turns: ChatTurn[], prefill = ''): Token[] {
    return this.model.tokenize(this.chatTemplate.render(turns, true) + prefill, true);
  }

  /** Renders a full training example (prompt and answer) as one token sequence. */
  conversationTokens(turns: ChatTurn[]): Token[] {
    return this.model.tokenize(this.chatTemplate.render(turns, false), true);
  }

  tokenize(text: string): Token[] {
    return this.model.tokenize(text, false);
  }

  /**
   * The number of leading tokens of `tokens` that are a question prompt's fixed head: the chat
   * template and the instruction up to where the question or the passages begin (the same for
   * every question of a kind), or 0. Answers read the head without adapters (see run).
   */
  promptHeadLength(tokens: Token[]): number {
    if (!this.promptHeads) {
      // The common start of prompts that differ from their first character of content on.
      const render = (question: string, passages: string[]) => this.promptTokens([{ role: 'user', content: renderQuestion(this.profile, question, passages) }]);
      const commonStart = (prompts: Token[][]) => prompts[0]!.slice(0, Math.min(...prompts.map((p) => sharedPrefix(p, prompts[0]!, p.length))));
      this.promptHeads = [
        commonStart([render('Where was Ann born?', []), render('1984?', []), render('"Who" is it?', [])]),
        commonStart([render('Where?', ['Ann was born in May.']), render('1984?', ['"Quoted" text']), render('x', ['7 is a number'])]),
      ].filter((head) => head.length > 0);
    }
    let longest = 0;
    for (const head of this.promptHeads) {
      if (head.length > longest && sharedPrefix(tokens, head, head.length) === head.length) longest = head.length;
    }
    return longest;
  }

  /**
   * Runs `work` with `adapters` applied to the context, on a free sequence whose KV cache holds
   * keys and values computed as these tokens need them (anything else is erased first). Work
   * with other sets waits until no work with this one runs; calls beyond the number of
   * sequences wait their turn. Which free sequence it takes: acquireSequence.
   *
   * Answers pass their `prompt`: its fixed head (promptHeadLength, short of the prompt's last
   * token, which the work evaluates again for its logits) is read without the adapters. The
   * head's keys and values are then the same for every adapter set, so a sequence keeps them
   * from one question to the next, and an answer with adapters evaluates only its question.
   * The head is evaluated first, in a turn without adapters, when no free sequence holds it.
   */
  private async run<T>(adapters: AdapterApplication[], tokens: Token[], work: (sequence: LlamaContextSequence, adapterMs: number) => Promise<T>, prompt?: Token[]): Promise<T> {
    const key = adapterSetKey(adapters);
    const head = key === '' || !prompt ? 0 : Math.min(this.promptHeadLength(prompt), prompt.length - 1);
    for (let attempt = 0; ; attempt++) {
      if (head > 0) await this.ensurePlainHead(tokens.slice(0, head));
      const done = await this.withAdapters(adapters, async (_, adapterMs) => {
        const sequence = await this.acquireSequence(key, tokens, head);
        try {
          const reusable = this.reusablePrefix(sequence, key, tokens, head);
          // Another request took the head's sequence in between: evaluate the head again.
          if (reusable < head) return { retry: true as const };
          if (!sameCache(this.sequenceCache.get(sequence), key, head)) {
            if (reusable < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: reusable, end: sequence.nextTokenIndex }]);
            this.sequenceCache.set(sequence, { key, plainLength: key === '' ? Infinity : head });
          }
          return { retry: false as const, value: await work(sequence, adapterMs) };
        } finally {
          this.releaseSequence(sequence);
        }
      });
      if (!done.retry) return done.value;
      // Let the work that took the head's sequence run first (and never spin without end).
      if (attempt >= 100) throw new ModelError('sequence-busy', 'No free sequence kept the prompt head; try the answer again.');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Makes a free sequence hold `head` computed without adapters. */
  private async ensurePlainHead(head: Token[]): Promise<void> {
    // Usually one does already: no turn without adapters then, which would wait for work with others.
    if (this.freeSequences.some((sequence) => this.reusablePrefix(sequence, '', head, 0) >= head.length)) return;
    await this.withAdapters([], async () => {
      const sequence = await this.acquireSequence('', head, 0);
      try {
        const reusable = this.reusablePrefix(sequence, '', head, 0);
        if (reusable >= head.length) return;
        if (reusable < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: reusable, end: sequence.nextTokenIndex }]);
        // What it keeps was read without adapters, and so is the rest of the head.
        this.sequenceCache.delete(sequence);
        await sequence.evaluateWithoutGeneratingNewTokens(head.slice(reusable));
      } finally {
        this.releaseSequence(sequence);
      }
    });
  }

  /**
   * How many leading tokens of `tokens` the sequence's cache holds as a request with set `key`
   * needs them: all it shares when it was computed the same way; otherwise only the part both
   * read without adapters (all of a plain request, `plainHead` of one with adapters).
   */
  private reusablePrefix(sequence: LlamaContextSequence, key: string, tokens: Token[], plainHead: number): number {
    const cache = this.sequenceCache.get(sequence) ?? { key: '', plainLength: Infinity };
    const shared = sharedPrefix(sequence.contextTokens, tokens, tokens.length);
    if (sameCache(cache, key, plainHead)) return shared;
    return Math.min(shared, cache.plainLength, key === '' ? Infinity : plainHead);
  }

  /**
   * The free sequence whose cache serves `tokens` best, waiting for one when none is free. One
   * that holds the plain head comes first (run made sure of one); then the most tokens it saves
   * evaluating, less 1/16 of a token for each cached token it would erase. Without that charge a
   * few shared template tokens would win a sequence whose long prompt is still wanted (combine's
   * scoring goes back and forth between the passages' prompt and the adapters') over an empty
   * one.
   */
  private async acquireSequence(key: string, tokens: Token[], plainHead: number): Promise<LlamaContextSequence> {
    const needed = key === '' ? 0 : plainHead;
    let best = -1;
    let bestHolds = false;
    let bestScore = -Infinity;
    this.freeSequences.forEach((sequence, i) => {
      const reusable = this.reusablePrefix(sequence, key, tokens, plainHead);
      const holds = reusable >= needed;
      const score = reusable - (sequence.contextTokens.length - reusable) / 16;
      if ((holds && !bestHolds) || (holds === bestHolds && score > bestScore)) { best = i; bestHolds = holds; bestScore = score; }
    });
    if (best >= 0) return this.freeSequences.splice(best, 1)[0]!;
    return new Promise<LlamaContextSequence>((resolve) => this.waiting.push(resolve));
  }

  private releaseSequence(sequence: LlamaContextSequence): void {
    const next = this.waiting.shift();
    if (next) next(sequence);
    else this.freeSequences.push(sequence);
  }

  /** Runs `work` with `adapters` set on the context; work with another set waits for its turn. */
  private async withAdapters<T>(adapters: AdapterApplication[], work: (key: string, adapterMs: number) => Promise<T>): Promise<T> {
    const key = adapterSetKey(adapters);
    while (this.adapterUsers > 0 && key !== this.activeAdapterKey) await new Promise<void>((resolve) => this.adapterWaiters.push(resolve));
    this.activeAdapterKey = key;
    this.adapterUsers++;
    try {
      const started = performance.now();
      await this.applyAdapters(adapters);
      return await work(key, performance.now() - started);
    } finally {
      this.adapterUsers--;
      if (this.adapterUsers === 0) for (const resume of this.adapterWaiters.splice(0)) resume();
    }
  }

  generate(options: GenerateOptions): Promise<GenerationResult> {
    if (options.signal?.aborted) return Promise.reject(new CancelledError('The answer'));
    if (options.tokens.length === 0) return Promise.reject(new ModelError('empty-prompt', 'The prompt is empty.'));
    if (options.tokens.length >= this.context.contextSize) {
      return Promise.reject(new ModelError('prompt-too-long', `The prompt has ${options.tokens.length} tokens, more than the model's ${this.context.contextSize}-token context. Use fewer passages (a smaller top-k).`));
    }
    return this.run(options.adapters ?? [], options.tokens, (sequence, adapterMs) => this.generateOn(sequence, options, adapterMs), options.tokens);
  }

  private async generateOn(sequence: LlamaContextSequence, options: GenerateOptions, adapterMs: number): Promise<GenerationResult> {
    const toEvaluate = options.tokens.slice(await this.keepCommonPrefix(sequence, options.tokens, options.tokens.length - 1));

    const maxTokens = options.maxTokens ?? 256;
    const roomLeft = this.context.contextSize - options.tokens.length;
    const generated: Token[] = [];
    let text = '';
    let stopReason: GenerationResult['stopReason'] = 'max-tokens';
    let firstTokenAt = 0;
    const promptStarted = performance.now();
    const sampling = options.sampling ? { temperature: options.sampling.temperature, seed: options.sampling.seed } : { temperature: 0 };
    // yieldEogToken: the loop must see the end-of-generation token to tell EOS from a cut-off.
    let eog: Token[] = [];
    await options.waitTurn?.();
    for await (const token of sequence.evaluate(toEvaluate, { ...sampling, yieldEogToken: true })) {
      if (firstTokenAt === 0) firstTokenAt = performance.now();
      if (this.model.isEogToken(token)) { stopReason = 'eos'; eog = [token]; break; }
      generated.push(token);
      const full = this.model.detokenize(generated);
      // Hold back a partial multi-byte character until the next token completes it.
      if (!full.endsWith('\uFFFD')) {
        const delta = full.slice(text.length);
        text = full;
        if (delta) options.onText?.(delta);
      }
      if (options.signal?.aborted) { stopReason = 'cancelled'; break; }
      if (generated.length >= Math.min(maxTokens, roomLeft)) break;
      // The generator evaluates the next token only when asked for it, i.e. after this wait.
      await options.waitTurn?.();
    }
    const ended = performance.now();
    text = this.model.detokenize(generated);
    return {
      text,
      tokens: generated.concat(eog),
      promptTokens: options.tokens.length,
      evaluatedPromptTokens: toEvaluate.length,
      generatedTokens: generated.length,
      stopReason,
      timings: { adapterMs, promptMs: (firstTokenAt || ended) - promptStarted, generateMs: ended - (firstTokenAt || ended) },
    };
  }

  /**
   * Keeps the sequence's KV cache for the longest prefix it shares with `tokens`, at most `limit`
   * tokens, and erases the rest. Returns the number of tokens kept.
   */
  private async keepCommonPrefix(sequence: LlamaContextSequence, tokens: Token[], limit: number): Promise<number> {
    const held = sequence.contextTokens;
    let common = 0;
    while (common < held.length && common < limit && held[common] === tokens[common]) common++;
    if (common < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: common, end: sequence.nextTokenIndex }]);
    return common;
  }

  /**
   * Sum of the natural-log probabilities of `continuation` following `prompt`, with `adapters`
   * applied. The KV cache of the prompt is kept, so scoring several continuations of one prompt
   * evaluates it once.
   */
  async continuationLogProb(prompt: Token[], continuation: Token[], adapters: AdapterApplication[] = []): Promise<number> {
    return (await this.checkContinuation(prompt, continuation, adapters)).logProb;
  }

  /**
   * Evaluates `continuation` after `prompt` in one batched pass, with `adapters` applied: the sum
   * of its tokens' natural-log probabilities, and the model's likeliest token at each of its
   * positions (`greedy[i]` is what greedy decoding would write instead of `continuation[i]`).
   * Where greedy and continuation agree up to i, greedy decoding would have written
   * continuation[..i] too: the check step of speculative decoding, which lets combine verify one
   * answer under the other source at the cost of a prompt evaluation. The KV cache of the prompt
   * is kept (see continuationLogProb).
   */
  checkContinuation(prompt: Token[], continuation: Token[], adapters: AdapterApplication[] = []): Promise<{ logProb: number; greedy: Token[] }> {
    if (prompt.length === 0) throw new ModelError('empty-prompt', 'The prompt is empty.');
    const tokens = prompt.concat(continuation);
    if (tokens.length > this.context.contextSize) {
      throw new ModelError('prompt-too-long', `The prompt and its continuation have ${tokens.length} tokens, more than the model's ${this.context.contextSize}-token context.`);
    }
    return this.run(adapters, tokens, async (sequence) => {
      const kept = await this.keepCommonPrefix(sequence, tokens, prompt.length - 1);
      // Item i of the evaluation is token kept + i; the logits after it predict token kept + i + 1.
      const firstScored = prompt.length - 1 - kept;
      const output = await sequence.controlledEvaluate(tokens.slice(kept).map((token, i) => {
        const next = tokens[kept + i + 1];
        return i >= firstScored && next !== undefined
          ? [token, { generateNext: { token: true, options: { temperature: 0 }, logits: { filter: { tokens: [next], includeSelected: true } }, totalLogitWeight: true } }]
          : token;
      }));
      let logProb = 0;
      const greedy: Token[] = [];
      for (let i = firstScored; i < continuation.length + firstScored; i++) {
        const next = output[i]?.next;
        const target = tokens[kept + i + 1]!;
        const logit = next?.logits?.get(target);
        const top = next?.token ?? undefined;
        const max = top === undefined ? undefined : next?.logits?.get(top);
        if (logit === undefined || max === undefined || next?.totalLogitWeight === undefined) throw new ModelError('no-logits', `No logits were returned for position ${kept + i}.`);
        // Greedy sampling picks the likeliest token, whose logit (includeSelected) is the max;
        // totalLogitWeight is the sum of exp(logit - max) over the vocabulary. Asking for the top
        // tokens instead (includeTop) makes node-llama-cpp sort the whole vocabulary at every
        // position: 12 ms each on a 128k vocabulary, more than evaluating the token.
        logProb += logit - max - Math.log(next.totalLogitWeight);
        greedy.push(top!);
      }
      return { logProb, greedy };
    }, prompt);
  }

  /** Tokens the context holds: a prompt and its answer together. */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /** The text of generated tokens (an end-of-generation token writes nothing). */
  detokenize(tokens: Token[]): string {
    return this.model.detokenize(tokens.filter((t) => !this.model.isEogToken(t)));
  }

  isEndOfGeneration(token: Token): boolean {
    return this.model.isEogToken(token);
  }

  /**
   * The model's top-`k` next-token distribution after each token from `from - 1` to the
   * second-to-last, i.e. for predicting tokens[from..]: row j holds the k likeliest ids and
   * their probabilities (full-softmax probabilities, so a row sums to at most 1), likeliest
   * first. Evaluated from an empty KV state with no adapters. The teacher of distillation
   * training (see distillation.ts).
   */
  topKDistributions(tokens: Token[], from: number, k: number): Promise<{ ids: Int32Array; probs: Float32Array }> {
    if (from < 1 || from >= tokens.length) throw new ModelError('invalid-range', `Distributions start at a token index from 1 to ${tokens.length - 1}, not ${from}.`);
    if (tokens.length > this.context.contextSize) {
      throw new ModelError('prompt-too-long', `The sequence has ${tokens.length} tokens, more than the model's ${this.context.contextSize}-token context.`);
    }
    return this.run([], tokens, async (sequence) => {
      await sequence.clearHistory();
      const output = await sequence.controlledEvaluate(tokens.slice(0, -1).map((t, i) => (
        i >= from - 1 ? [t, { generateNext: { logits: { filter: { tokens: [], includeTop: k } }, totalLogitWeight: true } }] : t)));
      await sequence.clearHistory();
      const rows = tokens.length - from;
      const ids = new Int32Array(rows * k);
      const probs = new Float32Array(rows * k);
      for (let r = 0; r < rows; r++) {
        const next = output[from - 1 + r]?.next;
        if (!next?.logits || next.totalLogitWeight === undefined) throw new ModelError('no-logits', `No logits were returned for position ${from - 1 + r}.`);
        const top = [...next.logits.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
        // totalLogitWeight is the sum of exp(logit - max) over the vocabulary (see continuationLogProb).
        const max = top[0]![1];
        top.forEach(([id, logit], j) => {
          ids[r * k + j] = id;
          probs[r * k + j] = Math.exp(logit - max) / next.totalLogitWeight!;
        });
      }
      return { ids, probs };
    });
  }

  /**
   * Raw next-token logits after each of `positions` (indexes into `tokens`), evaluated from an
   * empty KV state with `adapters` applied. Used by tests and to measure adapters' effect.
   */
  logitsAt(tokens: Token[], positions: number[], adapters: AdapterApplication[] = []): Promise<Float32Array[]> {
    return this.run(adapters, tokens, async (sequence) => {
      await sequence.clearHistory();
      const wanted = new Set(positions);
      const output = await sequence.controlledEvaluate(tokens.map((t, i) => (wanted.has(i) ? [t, { generateNext: { logits: true } }] : t)));
      await sequence.clearHistory();
      return positions.map((i) => {
        const logits = output[i]?.next?.logits;
        if (!logits) throw new ModelError('no-logits', `No logits were returned for position ${i}.`);
        const dense = new Float32Array(this.vocabularySize());
        for (const [token, value] of logits) dense[token] = value;
        return dense;
      });
    });
  }

  /** Mean negative log-likelihood of tokens[1..] given their prefixes (natural log). */
  async meanNll(tokens: Token[], adapters: AdapterApplication[] = []): Promise<number> {
    return -(await this.continuationLogProb(tokens.slice(0, 1), tokens.slice(1), adapters)) / (tokens.length - 1);
  }

  vocabularySize(): number {
    return this.model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  }

  /**
   * Applies `adapters` (loading, merging or expanding their files) when no other set is in use.
   * `generate` does this itself; calling it ahead (e.g. while the user types) hides its cost.
   */
  async setAdapters(adapters: AdapterApplication[]): Promise<void> {
    await this.withAdapters(adapters, async () => undefined);
  }

  /** Sets `adapters` on the context if they differ from the current set (run holds the turn). */
  private async applyAdapters(adapters: AdapterApplication[]): Promise<void> {
    if (adapterSetKey(adapters) === adapterSetKey(this.currentAdapters)) return;
    const applied = await this.loadableSet(adapters);
    await setContextAdapters(this.context, applied);
    this.currentAdapters = adapters.slice();
    await this.evictAdapters(applied);
  }

  /**
   * The files llama.cpp applies for `adapters`: one merged file when merging is on and there are
   * several; otherwise the adapters themselves, each compact file expanded first (llama.cpp
   * cannot read that layout).
   */
  private async loadableSet(adapters: AdapterApplication[]): Promise<AdapterApplication[]> {
    if (this.options.mergeAdapterSets !== false && adapters.length >= 2) return [{ filePath: await this.derivedAdapter(adapters), scale: 1 }];
    return Promise.all(adapters.map(async (a) => {
      let layout: 'llama' | 'compact';
      try {
        layout = await adapterLayout(a.filePath);
      } catch (error) {
        throw new ModelError('adapter-load-failed', `The adapter ${a.filePath} could not be read (${(error as Error).message}).`, { cause: error });
      }
      return layout === 'compact' ? { filePath: await this.derivedAdapter([{ filePath: a.filePath, scale: 1 }]), scale: a.scale } : a;
    }));
  }

  /** A file in the temporary folder equal to `adapters` applied together (merged or expanded). */
  private async derivedAdapter(adapters: AdapterApplication[]): Promise<string> {
    this.derivedDir ??= mkdtempSync(join(tmpdir(), 'paramkb-merged-'));
    const dir = this.derivedDir;
    // The set's identity: each file's path, size and modification time (a re-encoded adapter
    // is a new file), and its scale; sorted, as the sum does not depend on the order.
    const parts = adapters.map((a) => {
      const stat = statSync(a.filePath);
      return `${a.filePath}\u0000${stat.size}\u0000${stat.mtimeMs}\u0000${a.scale}`;
    }).sort();
    const filePath = join(dir, `${createHash('sha256').update(parts.join('\u0001')).digest('hex').slice(0, 32)}.gguf`);
    if (!existsSync(filePath)) {
      try {
        await mergeAdapters(adapters.map((a) => ({ path: a.filePath, scale: a.scale })), filePath, 'f32');
      } catch (error) {
        throw new ModelError('adapter-merge-failed', `The answer's adapters could not be merged (${(error as Error).message}); they may be corrupt.`, { cause: error });
      }
    }
    return filePath;
  }

  /** Marks `inUse` as most recently used and unloads old adapters beyond the cache's budget. */
  private async evictAdapters(inUse: AdapterApplication[]): Promise<void> {
    for (const a of inUse) {
      const size = this.adapterCache.get(a.filePath) ?? statSync(a.filePath).size;
      this.adapterCache.delete(a.filePath);
      this.adapterCache.set(a.filePath, size);
    }
    const budget = this.options.adapterCacheBytes ?? 256 * 1024 * 1024;
    let total = [...this.adapterCache.values()].reduce((a, b) => a + b, 0);
    const current = new Set(inUse.map((a) => a.filePath));
    for (const [path, size] of this.adapterCache) {
      if (total <= budget) break;
      if (current.has(path)) continue;
      await unloadAdapter(this.context, path);
      this.adapterCache.delete(path);
      total -= size;
      this.removeIfDerived(path);
    }
  }

  /** Removes every adapter from the context and frees their memory. */
  async unloadAdapters(): Promise<void> {
    await this.setAdapters([]);
    for (const path of this.adapterCache.keys()) {
      await unloadAdapter(this.context, path);
      this.removeIfDerived(path);
    }
    this.adapterCache.clear();
  }

  /** A merged or expanded file is made again when needed; the passages' own adapters stay on disk. */
  private removeIfDerived(path: string): void {
    if (this.derivedDir && dirname(path) === this.derivedDir) rmSync(path, { force: true });
  }

  /** Paths of the adapters held in memory, least recently used first. */
  cachedAdapters(): string[] {
    return [...this.adapterCache.keys()];
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    if (this.derivedDir) rmSync(this.derivedDir, { recursive: true, force: true });
  }
}
