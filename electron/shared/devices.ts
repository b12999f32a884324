// Which compute devices count as GPUs, for answering (core/llm/computeDevice.ts) and for
// training (core/trainer/trainerDevice.ts) alike. Vulkan and OpenGL drivers also offer CPU
// rasterisers (Mesa's llvmpipe / lavapipe, SwiftShader, Windows' Basic Render Driver): running a
// model on those is slower than on the CPU itself, so they never count as a GPU.

/** Vulkan / OpenGL devices that are CPU rasterisers, by the names their drivers report. */
const SOFTWARE_RENDERERS = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render/i;

export function isSoftwareRenderer(deviceName: string): boolean {
  return SOFTWARE_RENDERERS.test(deviceName);
}

/** The devices a GPU backend found that are real GPUs. */
export function hardwareGpus(deviceNames: string[]): string[] {
  return deviceNames.filter((name) => !isSoftwareRenderer(name));
}
