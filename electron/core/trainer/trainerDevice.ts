// Which device the trainer computes on: policy over the devices the addon finds. 'auto' takes
// the first real GPU with room for the model, its transposed backward copies and the compute
// buffers, else the CPU, and says why in a note; a named device is taken or refused.
import { isSoftwareRenderer } from '../../shared/devices.js';
import { formatBytes } from '../../shared/format.js';
import type { NativeDevice } from './nativeTrainerBinding.js';
import { InvalidTrainingInputError } from './trainerErrors.js';

/** 'auto' (a GPU when one fits, else the CPU), 'cpu', or a device name ('Vulkan0', 'CUDA0'). */
export type TrainerDeviceRequest = string;

export interface TrainerDeviceChoice {
  /** The device name to create the trainer on ('CPU' for the CPU). */
  device: string;
  /** Why a GPU that is present is not used, else null. */
  note: string | null;
}

/**
 * Device memory a trainer needs for a model file of `modelBytes`: the weights (about the file),
 * their transposed Q8_0 copies (about 1.9x a 4-bit file) and compute buffers.
 */
export function trainerDeviceBytes(modelBytes: number): number {
  return Math.ceil(modelBytes * 3) + 512 * 2 ** 20;
}

/**
 * @param missingFallsBack a named device that is not here: take 'auto''s choice and say so in
 *   the note (a saved setting may name a GPU that is gone) instead of refusing.
 */
export function chooseTrainerDevice(devices: NativeDevice[], request: TrainerDeviceRequest, modelBytes: number, missingFallsBack = false): TrainerDeviceChoice {
  if (request === 'cpu' || request === 'CPU') return { device: 'CPU', note: null };
  if (request !== 'auto') {
    if (devices.some((d) => d.name === request)) return { device: request, note: null };
    const found = devices.map((d) => `${d.name} (${d.description})`).join(', ') || 'none';
    if (!missingFallsBack) throw new InvalidTrainingInputError(`There is no compute device named '${request}' (found: ${found}); use 'auto', 'cpu' or one of those names.`);
    const auto = chooseTrainerDevice(devices, 'auto', modelBytes);
    const missing = `The Encoding device setting names ${request}, which this computer does not have now (found: ${found}), so encoding uses the automatic choice.`;
    return { device: auto.device, note: auto.note ? `${missing} ${auto.note}` : missing };
  }
  const gpus = devices.filter((d) => d.type === 'gpu' || d.type === 'igpu');
  const hardware = gpus.filter((d) => !isSoftwareRenderer(d.description));
  const need = trainerDeviceBytes(modelBytes);
  const fits = hardware.find((d) => d.memoryFree >= need);
  if (fits) return { device: fits.name, note: null };
  if (hardware.length > 0) {
    const best = hardware.reduce((a, b) => (b.memoryFree > a.memoryFree ? b : a));
    return { device: 'CPU', note: `${best.description} has ${formatBytes(best.memoryFree)} free and training this model needs about ${formatBytes(need)}, so encoding runs on the CPU.` };
  }
  if (gpus.length > 0) return { device: 'CPU', note: `${gpus.map((d) => d.description).join(', ')} is a software renderer that runs on the CPU, so encoding runs on the CPU directly.` };
  return { device: 'CPU', note: null };
}
