export interface RealModel {
  id: string;
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  architecture: string;
  instruct: boolean;
  license: string;
  packages: { name: string; version: string }[];
  parts: string[];
}
export function realModels(): RealModel[];
export function modelsCacheDir(): string;
export function fetchModel(model: RealModel, dir?: string, log?: (line: string) => void): Promise<string>;
