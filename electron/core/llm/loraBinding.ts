// The one place that touches node-llama-cpp internals. node-llama-cpp applies several LoRA
// adapters to a context at once (llama_set_adapters_lora, each with its own scale), but only
// exposes it at context creation; recreating a context per question would cost its KV memory
// allocation every time. LlamaContext._setLoras and LlamaModel._loraAdapters are internal, so
// they are wrapped here, checked at run time, and covered by test/model/llmRuntime.test.ts:
// a node-llama-cpp upgrade that changes them fails that test, not a user's question.
import type { LlamaContext } from 'node-llama-cpp';
import { ModelError } from '../../shared/errors.js';

export interface AdapterApplication {
  /** Absolute path of a GGUF LoRA adapter made for the loaded base model. */
  filePath: string;
  /** 1 applies the adapter as trained (llama.cpp scales by alpha / rank itself). */
  scale: number;
}

interface InternalLora { dispose(): Promise<void>; usages: number; readonly disposed: boolean }
interface InternalContext { _setLoras(loras: { filePath: string; scale?: number }[]): Promise<void>; _loraAdapters: Set<InternalLora> }
interface InternalModel { _loraAdapters: Map<string, InternalLora> }

function internals(context: LlamaContext): { context: InternalContext; model: InternalModel } {
  const c = context as unknown as Partial<InternalContext>;
  const m = context.model as unknown as Partial<InternalModel>;
  if (typeof c._setLoras !== 'function' || !(c._loraAdapters instanceof Set) || !(m._loraAdapters instanceof Map)) {
    throw new ModelError('lora-api-missing', 'This node-llama-cpp version does not expose LlamaContext._setLoras; ParamKB needs the version in its package.json to apply adapters.');
  }
  return { context: c as InternalContext, model: m as InternalModel };
}

/**
 * Replaces the set of adapters applied to `context` (an empty list removes them all). The
 * caller clears the KV state afterwards: cached keys and values were computed with the old set.
 * Adapter files are loaded once per model and kept until `unloadAdapter`.
 */
export async function setContextAdapters(context: LlamaContext, adapters: AdapterApplication[]): Promise<void> {
  const { context: c } = internals(context);
  try {
    await c._setLoras(adapters.map((a) => ({ filePath: a.filePath, scale: a.scale })));
  } catch (error) {
    throw new ModelError('adapter-load-failed', `An adapter could not be applied (${(error as Error).message}); it may be corrupt or made for another model.`, { cause: error });
  }
}

/** Frees a loaded adapter's memory. It must not be in the context's current set. */
export async function unloadAdapter(context: LlamaContext, filePath: string): Promise<void> {
  const { context: c, model } = internals(context);
  const lora = model._loraAdapters.get(filePath);
  if (!lora) return;
  model._loraAdapters.delete(filePath);
  c._loraAdapters.delete(lora);
  if (!lora.disposed) await lora.dispose();
}

/** Paths of the adapters currently loaded in the model's memory. */
export function loadedAdapterPaths(context: LlamaContext): string[] {
  return [...internals(context).model._loraAdapters.keys()];
}

