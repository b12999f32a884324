// The trainer's device policy: 'auto' takes a real GPU with room for the model, else the CPU
// with a note that says why; a named device is taken or refused with the names there are.
import { describe, expect, it } from 'vitest';
import type { NativeDevice } from '../../electron/core/trainer/nativeTrainerBinding.js';
import { chooseTrainerDevice, trainerDeviceBytes } from '../../electron/core/trainer/trainerDevice.js';
import { InvalidTrainingInputError } from '../../electron/core/trainer/trainerErrors.js';

const GiB = 2 ** 30;
const cpu: NativeDevice = { name: 'CPU', description: 'Intel(R) Xeon(R)', type: 'cpu', memoryFree: 24 * GiB, memoryTotal: 24 * GiB };
const lavapipe: NativeDevice = { name: 'Vulkan0', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', type: 'gpu', memoryFree: 2 * GiB, memoryTotal: 2 * GiB };
const rtx = (name: string, free: number): NativeDevice => ({ name, description: 'NVIDIA GeForce RTX 4070', type: 'gpu', memoryFree: free, memoryTotal: 12 * GiB });
const model1B = 0.8 * GiB;

describe('chooseTrainerDevice', () => {
  it('auto takes the first real GPU that holds the model, its backward copies and compute buffers', () => {
    expect(trainerDeviceBytes(model1B)).toBeGreaterThan(2.4 * GiB);
    expect(chooseTrainerDevice([cpu, rtx('CUDA0', 10 * GiB), rtx('Vulkan0', 10 * GiB)], 'auto', model1B)).toEqual({ device: 'CUDA0', note: null });
    expect(chooseTrainerDevice([cpu, rtx('CUDA0', 1 * GiB), rtx('CUDA1', 10 * GiB)], 'auto', model1B)).toEqual({ device: 'CUDA1', note: null });
  });

  it('auto stays on the CPU, and says why, when the GPU is full or is a software renderer', () => {
    const full = chooseTrainerDevice([cpu, rtx('CUDA0', 1 * GiB)], 'auto', model1B);
    expect(full.device).toBe('CPU');
    expect(full.note).toMatch(/RTX 4070 has 1(\.0)? GB free .* needs about/);
    const software = chooseTrainerDevice([cpu, lavapipe], 'auto', 1e6);
    expect(software).toEqual({ device: 'CPU', note: expect.stringMatching(/llvmpipe .* software renderer/) });
    expect(chooseTrainerDevice([cpu], 'auto', model1B)).toEqual({ device: 'CPU', note: null });
  });

  it('takes a named device even when auto would not, and refuses an unknown name with the names there are', () => {
    expect(chooseTrainerDevice([cpu, lavapipe], 'Vulkan0', 1e6)).toEqual({ device: 'Vulkan0', note: null });
    expect(chooseTrainerDevice([cpu, lavapipe], 'cpu', 1e6)).toEqual({ device: 'CPU', note: null });
    expect(() => chooseTrainerDevice([cpu, lavapipe], 'CUDA0', 1e6)).toThrow(InvalidTrainingInputError);
    expect(() => chooseTrainerDevice([cpu, lavapipe], 'CUDA0', 1e6)).toThrow(/CPU \(Intel.*Vulkan0 \(llvmpipe/);
  });

  it("falls back to auto's choice, saying so, for a saved device that is gone", () => {
    expect(chooseTrainerDevice([cpu, rtx('CUDA1', 10 * GiB)], 'CUDA0', model1B, true)).toEqual({ device: 'CUDA1', note: expect.stringMatching(/names CUDA0, which this computer does not have/) });
    expect(chooseTrainerDevice([cpu, lavapipe], 'CUDA0', 1e6, true)).toEqual({ device: 'CPU', note: expect.stringMatching(/names CUDA0.*llvmpipe .* software renderer/) });
  });
});
