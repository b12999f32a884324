// Which compute devices count as GPUs, for answering (core/llm/computeDevice.ts) and for
// training (core/trainer/trainerDevice.ts) alike. Vulkan and OpenGL drivers also offer CPU
// rasterisers (Mesa's llvmpipe / lavapipe, SwiftShader, Windows' Basic Render Driver): running a
// model on those is slower than on the CPU itself, so they never count as a GPU. Also the values
// of the Encoding device setting, and how an encoder's device reports compare.
import type { EncodingDevice } from './types.js';

/** Vulkan / OpenGL devices that are CPU rasterisers, by the names their drivers report. */
const SOFTWARE_RENDERERS = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render/i;

export function isSoftwareRenderer(deviceName: string): boolean {
  return SOFTWARE_RENDERERS.test(deviceName);
}

/** The devices a GPU backend found that are real GPUs. */
export function hardwareGpus(deviceNames: string[]): string[] {
  return deviceNames.filter((name) => !isSoftwareRenderer(name));
}

/** A device name as the Encoding device setting and `--device` take it: ggml's names are short words. */
const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The Encoding device setting's value for `value`: 'auto' and 'cpu' in any case, or a device
 * name as given ('CUDA0', 'Vulkan0'); null when it cannot be one.
 */
export function encoderDeviceSetting(value: string): string | null {
  if (!DEVICE_NAME.test(value)) return null;
  const lower = value.toLowerCase();
  return lower === 'auto' || lower === 'cpu' ? lower : value;
}

/** Whether two reports of an encoder's device say the same. */
export function sameEncodingDevice(a: EncodingDevice, b: EncodingDevice): boolean {
  return a.name === b.name && a.description === b.description && a.gpu === b.gpu && a.note === b.note;
}
