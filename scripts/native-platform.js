// Which of node-llama-cpp's prebuilt packages the native trainer links on each platform, and the
// names of the three shared libraries it links in that package. One place for the build
// (build-native.js), the run time (electron/core/trainer/nativeTrainerBinding.ts) and the
// Windows cross build (cross-win.sh). Library names carry llama.cpp's release
// (libggml.v0.5.0.so, ggml.v0.4.0.dll, libllama.metal.v0.4.0.dylib), so they are found by
// pattern in the package rather than written down.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGES = {
  linux: { x64: 'linux-x64', arm64: 'linux-arm64', arm: 'linux-armv7l', riscv64: 'linux-riscv64' },
  // Apple silicon: the Metal build (its CPU backend is what the trainer uses); Intel: CPU only.
  darwin: { arm64: 'mac-arm64-metal', x64: 'mac-x64' },
  win32: { x64: 'win-x64', arm64: 'win-arm64' },
};

// node-llama-cpp's GPU packages whose ggml backend library the trainer can load next to the CPU
// one (they share libggml-base), best first: CUDA is faster than Vulkan on the same NVIDIA GPU.
// macOS has none: loading Metal is not wired yet (native/README.md, GPUs).
const GPU_PACKAGES = {
  linux: { x64: [['linux-x64-cuda', 'libggml-cuda.so'], ['linux-x64-vulkan', 'libggml-vulkan.so']], arm64: [] },
  win32: { x64: [['win-x64-cuda', 'ggml-cuda.dll'], ['win-x64-vulkan', 'ggml-vulkan.dll']], arm64: [] },
};

/** The GPU packages for a platform, best first: [{id, library}]; empty where there are none. */
export function gpuBackendPackages(platform = process.platform, arch = process.arch) {
  const byArch = Object.hasOwn(GPU_PACKAGES, platform) ? GPU_PACKAGES[platform] : undefined;
  const list = byArch && Object.hasOwn(byArch, arch) ? byArch[arch] : [];
  return list.map(([id, library]) => ({ id, library }));
}

/** The CPU (or Metal) package id for a platform, e.g. 'win-x64'; null where node-llama-cpp ships none. */
export function prebuiltPackageId(platform = process.platform, arch = process.arch) {
  const byArch = Object.hasOwn(PACKAGES, platform) ? PACKAGES[platform] : undefined;
  return byArch && Object.hasOwn(byArch, arch) ? byArch[arch] : null;
}

/** The folder of a package's binaries: <node_modules>/@node-llama-cpp/<id>/bins/<id>. */
export function prebuiltBinsDir(nodeModulesDir, id) {
  return join(nodeModulesDir, '@node-llama-cpp', id, 'bins', id);
}

const LIBRARY_PATTERNS = {
  linux: { ggmlBase: /^libggml-base\.so$/, ggml: /^libggml(\.v[\w.]+)?\.so$/, llama: /^libllama(\.v[\w.]+)?\.so$/, cpuBackend: /^libggml-cpu-[\w]+\.so$/ },
  darwin: { ggmlBase: /^libggml-base\.dylib$/, ggml: /^libggml(\.metal)?(\.v[\w.]+)?\.dylib$/, llama: /^libllama(\.metal)?(\.v[\w.]+)?\.dylib$/, cpuBackend: /^libggml-cpu-[\w]+\.so$/ },
  win32: { ggmlBase: /^ggml-base\.dll$/, ggml: /^ggml(\.v[\w.]+)?\.dll$/, llama: /^llama(\.v[\w.]+)?\.dll$/, cpuBackend: /^ggml-cpu-[\w]+\.dll$/ },
};

/**
 * The file names of libggml-base, libggml and libllama in a bins folder, and its CPU backends
 * (loaded at run time). Throws an Error that says what is missing.
 */
export function prebuiltLibraries(binsDir, platform = process.platform) {
  const patterns = LIBRARY_PATTERNS[platform];
  if (!patterns) throw new Error(`The native trainer has no build for ${platform}.`);
  let files;
  try {
    files = readdirSync(binsDir);
  } catch {
    throw new Error(`${binsDir} does not exist: node-llama-cpp's prebuilt binaries for this platform are not installed.`);
  }
  const one = (what) => {
    const found = files.filter((f) => patterns[what].test(f));
    if (found.length !== 1) throw new Error(`Expected one file matching ${patterns[what]} in ${binsDir}, found ${found.length === 0 ? 'none' : found.join(', ')}; reinstall node-llama-cpp.`);
    return found[0];
  };
  const libraries = { ggmlBase: one('ggmlBase'), ggml: one('ggml'), llama: one('llama'), cpuBackends: files.filter((f) => patterns.cpuBackend.test(f)).sort() };
  if (libraries.cpuBackends.length === 0) throw new Error(`${binsDir} has no ggml CPU backend (${patterns.cpuBackend}); reinstall node-llama-cpp.`);
  return libraries;
}
