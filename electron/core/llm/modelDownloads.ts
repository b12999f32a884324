// Downloads of recommended models with node-llama-cpp's downloader (resumable: a cancelled or
// interrupted download keeps its temp file and continues from there next time).
import { createModelDownloader } from 'node-llama-cpp';
import type { DownloadProgress, RecommendedModel } from '../../shared/types.js';
import { NotFoundError, ParamKbError } from '../../shared/errors.js';

export const RECOMMENDED_MODELS: readonly RecommendedModel[] = [
  {
    id: 'llama-3.2-1b-instruct-q4_k_m',
    name: 'Llama 3.2 1B Instruct (Q4_K_M)',
    uri: 'hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M',
    sizeBytes: 807_694_464,
    description: 'The model of the Parametric RAG paper. Fast on any CPU; about 1 GB of memory.',
  },
  {
    id: 'qwen2.5-1.5b-instruct-q4_k_m',
    name: 'Qwen2.5 1.5B Instruct (Q4_K_M)',
    uri: 'hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M',
    sizeBytes: 1_117_320_736,
    description: 'Stronger reading and multilingual answers; about 1.5 GB of memory.',
  },
  {
    id: 'bge-small-en-v1.5-q8_0',
    name: 'bge-small-en-v1.5 (Q8_0, embeddings)',
    uri: 'hf:ggml-org/bge-small-en-v1.5-Q8_0-GGUF/bge-small-en-v1.5-q8_0.gguf',
    sizeBytes: 36_700_000,
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
