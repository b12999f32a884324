// What the Models view and `paramkb status` say a model runs on.
import { describe, expect, it } from 'vitest';
import { describeCompute } from '../../electron/core/llm/computeDevice.js';
import { formatRunsOn } from '../../electron/shared/format.js';

describe('compute device', () => {
  it('never counts a software renderer, or a backend without devices, as a GPU', () => {
    const lavapipe = describeCompute('vulkan', ['llvmpipe (LLVM 19.1.7, 256 bits)'], 0);
    expect(lavapipe.gpu).toBe(false);
    expect(lavapipe.note).toBe("Vulkan's only device, llvmpipe (LLVM 19.1.7, 256 bits), is a software renderer that runs on the CPU, so the model runs on the CPU directly.");
    expect(describeCompute('vulkan', [], 0)).toEqual({ gpu: false, gpuDevices: [], note: 'Vulkan found no GPU on this computer, so the model runs on the CPU.' });
    expect(describeCompute(false, [], 0)).toEqual({ gpu: false, gpuDevices: [], note: null });
  });

  it('names the GPU and its layers when layers run there, and says why when none do', () => {
    const cuda = describeCompute('cuda', ['NVIDIA H200'], 17);
    expect(cuda).toEqual({ gpu: 'cuda', gpuDevices: ['NVIDIA H200'], note: null });
    expect(formatRunsOn({ ...cuda, gpuLayers: 17, layerCount: 17 })).toBe('GPU (CUDA: NVIDIA H200), 17 of 17 layers');
    const mixed = describeCompute('vulkan', ['llvmpipe (LLVM 19.1.7, 256 bits)', 'AMD Radeon RX 7600'], 12);
    expect(formatRunsOn({ ...mixed, gpuLayers: 12, layerCount: 33 })).toBe('GPU (Vulkan: AMD Radeon RX 7600), 12 of 33 layers');
    const none = describeCompute('cuda', ['NVIDIA H200'], 0);
    expect(none.gpu).toBe(false);
    expect(none.note).toMatch(/No layer of the model is on the GPU \(NVIDIA H200\)/);
    expect(formatRunsOn({ ...none, gpuLayers: 0, layerCount: 17 })).toBe('CPU');
  });
});
