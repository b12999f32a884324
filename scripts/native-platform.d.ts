export interface PrebuiltLibraries {
  ggmlBase: string;
  ggml: string;
  llama: string;
  cpuBackends: string[];
}
export function prebuiltPackageId(platform?: string, arch?: string): string | null;
export function prebuiltBinsDir(nodeModulesDir: string, id: string): string;
export function prebuiltLibraries(binsDir: string, platform?: string): PrebuiltLibraries;
export function gpuBackendPackages(platform?: string, arch?: string): { id: string; library: string }[];
