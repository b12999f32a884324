// What a loaded model really runs on. node-llama-cpp reports the GPU backend its binary was
// built for (e.g. 'vulkan') even when that backend found no GPU, or only a software renderer
// that runs on the CPU (Mesa's llvmpipe / lavapipe, SwiftShader, Windows' Basic Render Driver).
// Offloading to those is slower than the CPU itself, so they do not count as a GPU.
import { hardwareGpus, isSoftwareRenderer } from '../../shared/devices.js';
import { gpuBackendName } from '../../shared/format.js';

export interface ComputeDescription {
  /** The GPU backend that runs layers of the model, or false when it runs on the CPU. */
  gpu: string | false;
  /** The GPUs used, when `gpu` is set. */
  gpuDevices: string[];
  /** Why a GPU backend present on this machine is not used, else null. */
  note: string | null;
}

/**
 * @param backend the GPU backend that was found (even if then not used), or false
 * @param deviceNames the devices it reported
 * @param offloadedLayers the model's layers placed on the GPU
 */
export function describeCompute(backend: string | false, deviceNames: string[], offloadedLayers: number): ComputeDescription {
  if (backend === false) return { gpu: false, gpuDevices: [], note: null };
  const name = gpuBackendName(backend);
  const gpus = hardwareGpus(deviceNames);
  if (gpus.length === 0 && backend !== 'metal') {
    const software = deviceNames.filter(isSoftwareRenderer);
    return {
      gpu: false, gpuDevices: [],
      note: software.length > 0
        ? `${name}'s only device, ${software.join(', ')}, is a software renderer that runs on the CPU, so the model runs on the CPU directly.`
        : `${name} found no GPU on this computer, so the model runs on the CPU.`,
    };
  }
  if (offloadedLayers === 0) {
    return { gpu: false, gpuDevices: [], note: `No layer of the model is on the GPU (${gpus.join(', ') || name}): the GPU layers setting is 0, or none fits in its memory.` };
  }
  return { gpu: backend, gpuDevices: gpus, note: null };
}
