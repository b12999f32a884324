// An embedding model (e.g. all-MiniLM-L6-v2, bge-small: BERT-family GGUFs with a pooling type)
// run by node-llama-cpp's embedding context. Texts longer than the model's context are cut to
// fit: a passage's first 500 or so tokens say what it is about.
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { ModelError } from '../../shared/errors.js';
import { assertGgufFile, getLlamaRuntime, modelFingerprint } from './llmRuntime.js';

export interface LoadEmbeddingModelOptions {
  modelPath: string;
  /** CPU threads; 0 or absent: half the cores, at most 4 (embedding runs beside answering). */
  threads?: number;
  /** Use the GPU when one exists. Default true (PARAMKB_GPU=0 turns it off). */
  useGpu?: boolean;
}

export class EmbeddingRuntime {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaEmbeddingContext,
    readonly modelPath: string,
    readonly fingerprint: string,
    readonly name: string,
    readonly dimensions: number,
    readonly sizeBytes: number,
    private readonly maxTokens: number,
  ) {}

  static async load(options: LoadEmbeddingModelOptions): Promise<EmbeddingRuntime> {
    const sizeBytes = assertGgufFile(options.modelPath);
    const llama = await getLlamaRuntime(options.useGpu ?? process.env.PARAMKB_GPU !== '0');
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: options.modelPath });
    } catch (error) {
      throw new ModelError('model-load-failed', `${basename(options.modelPath)} could not be loaded: ${(error as Error).message}. It may be damaged, or an architecture this llama.cpp does not support.`, { cause: error });
    }
    const metadata = model.fileInfo.metadata as unknown as Record<string, unknown> & { general?: { architecture?: string; name?: string } };
    const architecture = metadata.general?.architecture ?? '';
    const pooling = (metadata[architecture] as { pooling_type?: number } | undefined)?.pooling_type;
    if (pooling === undefined || pooling === 0) {
      await model.dispose();
      throw new ModelError('not-embedding-model', `${basename(options.modelPath)} is not an embedding model (it has no pooling type). Choose a sentence-embedding GGUF such as all-MiniLM-L6-v2 or bge-small-en-v1.5.`);
    }
    const threads = options.threads && options.threads > 0 ? options.threads : Math.min(4, Math.max(1, Math.floor(availableParallelism() / 2)));
    const contextSize = Math.min(512, model.trainContextSize);
    let context: LlamaEmbeddingContext;
    try {
      context = await model.createEmbeddingContext({ contextSize, threads });
    } catch (error) {
      await model.dispose();
      throw new ModelError('context-failed', `Not enough memory for the embedding model's context: ${(error as Error).message}.`, { cause: error });
    }
    return new EmbeddingRuntime(model, context, options.modelPath, modelFingerprint(options.modelPath), metadata.general?.name ?? basename(options.modelPath), model.embeddingVectorSize, sizeBytes, contextSize - 3);
  }

  /** The text's embedding as node-llama-cpp computes it (not normalized). */
  async embed(text: string): Promise<Float32Array> {
    // Room for the [CLS]/[SEP] tokens the context adds, and its "shorter than the context" rule.
    const tokens = this.model.tokenize(text).slice(0, this.maxTokens);
    if (tokens.length === 0) throw new ModelError('empty-text', 'There is no text to embed.');
    const embedding = await this.context.getEmbeddingFor(tokens);
    return Float32Array.from(embedding.vector);
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}
