// Which base model something was made for, in words a person can act on: the fingerprint that
// adapters are checked against, and the model's name, file name, size and where to get it. Knowledge
// packs and distributed encoding jobs carry one, so a refusal can name the model that is needed.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { formatBytes } from '../../shared/format.js';
import { modelFingerprint } from './llmRuntime.js';
import { RECOMMENDED_MODELS } from './modelDownloads.js';

export interface ModelIdentity {
  /** modelFingerprint of the GGUF file: what adapters are checked against. */
  fingerprint: string;
  /** general.name of the GGUF, else its file name. */
  name: string;
  fileName: string;
  sizeBytes: number;
  /** Where to get the file (a node-llama-cpp model URI or a URL), or null when unknown. */
  source: string | null;
}

/** Reads the identity of a GGUF file (its metadata only, not its weights). */
export async function modelIdentity(modelPath: string, source?: string | null): Promise<ModelIdentity> {
  const sizeBytes = statSync(modelPath).size;
  let name = basename(modelPath);
  try {
    const info = await readGgufFileInfo(modelPath, {
      readTensorInfo: false, logWarnings: false, sourceType: 'filesystem',
      ignoreKeys: ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges', 'tokenizer.ggml.token_type', 'tokenizer.ggml.scores'],
    });
    const general = info.metadata.general as { name?: unknown } | undefined;
    if (typeof general?.name === 'string' && general.name.trim()) name = general.name.trim();
  } catch { /* the file name will do; loading the model reports a damaged file */ }
  return {
    fingerprint: modelFingerprint(modelPath),
    name,
    fileName: basename(modelPath),
    sizeBytes,
    // A recommended model is recognized by its exact size; otherwise the caller may say where it came from.
    source: source ?? RECOMMENDED_MODELS.find((m) => m.sizeBytes === sizeBytes)?.uri ?? null,
  };
}

/** "Llama 3.2 1B Instruct (Llama-3.2-1B-Instruct-Q4_K_M.gguf, 770 MB, fingerprint 1a2b3c4d…)". */
export function describeModel(model: Pick<ModelIdentity, 'name' | 'fileName' | 'sizeBytes' | 'fingerprint'>): string {
  return `${model.name} (${model.fileName}, ${formatBytes(model.sizeBytes)}, fingerprint ${model.fingerprint.slice(0, 12)}…)`;
}
