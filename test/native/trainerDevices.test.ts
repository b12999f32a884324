// The trainer on GPUs. The portable training graph (only ops that Metal, CUDA and Vulkan all
// have) gives the default graph's losses and gradients on the CPU; on Vulkan, through Mesa's
// lavapipe (a Vulkan driver that runs on the CPU: slow, but the same ggml-vulkan shaders a GPU
// runs), training and evaluation match the CPU trainer, with the whole training step on the device.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getLlama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeAdapters } from '../../electron/core/trainer/adapterFiles.js';
import { LoraTrainer, type TokenSequence } from '../../electron/core/trainer/LoraTrainer.js';
import { gpuBackendFiles } from '../../electron/core/trainer/nativeTrainerBinding.js';
import { InvalidTrainingInputError } from '../../electron/core/trainer/trainerErrors.js';
import { readLoraTensors } from '../support/loraFile.js';
import { quantizedModelPath } from '../support/quantizedModel.js';
import { repoRoot } from '../../scripts/llama-source.js';
import { TINY_SPECS, tinyModelPath } from '../support/tinyModel.js';
import { outputDir, QUANT_SPECS, TEST_THREADS } from './fixtures.js';
import { referenceLlama, referenceLogits } from './referenceLlama.js';

// ggml-vulkan skips CPU-type devices such as lavapipe unless they are listed; it reads this
// when the Vulkan backend loads, which happens in this process's first trainer.
process.env.GGML_VK_VISIBLE_DEVICES ??= '0';

const ICD_DIR = '/usr/share/vulkan/icd.d';
const lavapipe = existsSync(ICD_DIR) && readdirSync(ICD_DIR).some((f) => f.startsWith('lvp_icd'));
const vulkanBackend = gpuBackendFiles().some((f) => /vulkan/.test(f));
// CI installs lavapipe (mesa-vulkan-drivers) and sets this, so there the tests cannot skip.
const requireVulkan = process.env.PARAMKB_REQUIRE_VULKAN === '1';
// lavapipe runs ggml-vulkan's shaders on the CPU, and compiles them first: with Mesa's shader
// cache empty (a fresh machine) the first of these tests took 386 s in .ci/run, and with it warm
// a Q8_0 model's training alone took 113 s of the runner's default 120. They check results, not speed.
const LAVAPIPE_TIMEOUT_MS = 1_200_000;

// logitTolerance: the largest logit difference allowed, relative to the largest logit. The CPU
// multiplies Q8_0 weights by activations quantized to Q8_0 too, Vulkan by F16/F32 ones: that
// rounding, not the adapter, is what separates the two on quantized models.
const models = [
  { name: 'llama F32', logitTolerance: 5e-3, path: () => tinyModelPath(TINY_SPECS.llamaSpm) },
  { name: 'gemma3 F32', logitTolerance: 5e-3, path: () => tinyModelPath(TINY_SPECS.gemma3) },
  { name: 'llama Q8_0', logitTolerance: 3e-2, path: () => quantizedModelPath(QUANT_SPECS.llamaSpm256, 'q8_0') },
];

/** The portable graph on the CPU: those, the qwen fixtures and the world model (F16, ../shared/world). */
const portableModels = [
  ...models,
  { name: 'qwen2 F32', path: () => tinyModelPath(TINY_SPECS.qwen2) },
  { name: 'qwen3 F32', path: () => tinyModelPath(TINY_SPECS.qwen3) },
  { name: 'world F16', path: async () => resolve(repoRoot, '..', 'shared', 'world', 'model', 'world-20m-f16.gguf') },
];

/**
 * The ops that Metal, CUDA and Vulkan all run, by ggml_op_desc's names (unary and GLU ops by
 * their own): those of ggml's ops a training graph of these architectures could use that
 * ggml_metal_device_supports_op (ggml/src/ggml-metal/ggml-metal-device.m),
 * ggml_backend_cuda_device_supports_op (ggml/src/ggml-cuda/ggml-cuda.cu) and
 * ggml_backend_vk_device_supports_op (ggml/src/ggml-vulkan/ggml-vulkan.cpp) all accept, in the
 * llama.cpp that node-llama-cpp ships (.cache/llama.cpp). Their type and layout conditions (F32
 * or F16, contiguous rows, same-shape sources for SILU_BACK) hold for the trainer's tensors.
 * Metal lacks, of what autodiff writes: OUT_PROD, REPEAT_BACK (grouped-query attention's heads),
 * RMS_NORM_BACK, SOFT_MAX_BACK, GET_ROWS_BACK, CROSS_ENTROPY_LOSS(_BACK) and ADD1.
 */
const GPU_OPS = new Set([
  'NONE', 'VIEW', 'RESHAPE', 'PERMUTE', 'TRANSPOSE', 'CONT', 'CPY', 'DUP', 'SET', 'CONCAT',
  'ADD', 'SUB', 'MUL', 'DIV', 'ACC', 'SCALE', 'FILL', 'CLAMP', 'SQR', 'SQRT', 'LOG', 'SIN', 'COS',
  'SUM', 'SUM_ROWS', 'MEAN', 'ARGMAX', 'REPEAT', 'GET_ROWS', 'SET_ROWS', 'MUL_MAT',
  'NORM', 'RMS_NORM', 'ROPE', 'ROPE_BACK', 'SOFT_MAX', 'SILU_BACK',
  'ABS', 'SGN', 'NEG', 'STEP', 'EXP', 'TANH', 'RELU', 'SIGMOID', 'SILU', 'GELU', 'GELU_ERF', 'GELU_QUICK',
  'SWIGLU', 'GEGLU', 'GEGLU_ERF', 'GEGLU_QUICK', 'REGLU',
]);

/** Deterministic token ids that every fixture vocabulary has. */
function sequences(): TokenSequence[] {
  return [14, 9, 11].map((n, s) => ({ tokens: Array.from({ length: n }, (_, i) => 3 + ((i * 37 + s * 101) % 900)) }));
}

/** sequences() with a teacher's top 3 for every target (soft labels: several entries > 0 per row). */
function softSequences(): TokenSequence[] {
  return sequences().map((seq) => {
    const targets = seq.tokens.length - 1;
    const ids = Int32Array.from({ length: targets * 3 }, (_, i) => 5 + ((i * 53) % 800));
    const probs = Float32Array.from({ length: targets * 3 }, (_, i) => [0.5, 0.3, 0.1][i % 3]!);
    return { ...seq, lossMask: seq.tokens.map(() => 1), teacher: { k: 3, ids, probs } };
  });
}

/** The largest difference between two adapters' tensors, relative to the largest value of each tensor (B counts as much as A). */
async function adapterDifference(a: string, b: string): Promise<number> {
  const ta = await readLoraTensors(a), tb = await readLoraTensors(b);
  expect([...ta.keys()].sort()).toEqual([...tb.keys()].sort());
  let worst = 0;
  for (const [name, x] of ta) {
    const y = tb.get(name)!.data;
    let diff = 0, scale = 0;
    for (let i = 0; i < x.data.length; i++) {
      diff = Math.max(diff, Math.abs(x.data[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(x.data[i]!));
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));
const train = { lr: 1e-2, epochs: 2, batchSize: 3, seed: 5, targets: ['attn_q', 'attn_v', 'ffn_up', 'ffn_down'] as const };

describe.each(portableModels)('the portable training graph on the CPU ($name)', ({ name, path }) => {
  let trainer: LoraTrainer;
  let dir: string;
  beforeAll(async () => {
    trainer = await LoraTrainer.create(await path(), { threads: TEST_THREADS, device: 'cpu' });
    dir = outputDir(`portable-${name.replace(/\W+/g, '-')}`);
  });
  afterAll(() => trainer?.dispose());

  /**
   * Trains with the default graph, then with the portable one; checks that they agree. AdamW's
   * eps is 1e-2 here: with the default 1e-8 its first steps move each weight by about
   * lr · sign(gradient), so a gradient that is ~0 and comes out +1e-9 in one graph and -1e-9 in
   * the other (mul_mat and out_prod, and the rewritten reductions, sum in different orders)
   * moves that weight by ±lr; with a larger eps the steps follow the gradients, and the adapters
   * differ as much as the gradients do.
   */
  async function compare(seqs: TokenSequence[], tag: string) {
    const options = { ...train, targets: [...train.targets], sequences: seqs, eps: 1e-2 };
    const base = await trainer.train({ ...options, outPath: join(dir, `${tag}-default.gguf`) });
    const portable = await trainer.train({ ...options, outPath: join(dir, `${tag}-portable.gguf`), portableBackward: true });
    expect(portable.splits).toBe(1);
    for (let i = 0; i < base.losses.length; i++) expect(relative(portable.losses[i]!, base.losses[i]!)).toBeLessThan(1e-5);
    // Seen: up to 1.3e-4 (qwen2, soft labels); a gradient 1% off in one rewrite gave 1e-3 to 1e-1.
    expect(await adapterDifference(portable.outPath, base.outPath)).toBeLessThan(1e-3);
    return { base, portable };
  }

  it('gives the default graph\'s losses and adapter, from ops that Metal, CUDA and Vulkan all have', async () => {
    const { base, portable } = await compare(sequences(), 'next-token');
    expect(portable.graphOps.filter((op) => !GPU_OPS.has(op))).toEqual([]);
    // What the rewrite removes: autodiff's ops that Metal lacks.
    for (const op of ['OUT_PROD', 'RMS_NORM_BACK', 'SOFT_MAX_BACK', 'GET_ROWS_BACK', 'CROSS_ENTROPY_LOSS', 'CROSS_ENTROPY_LOSS_BACK']) {
      expect(base.graphOps).toContain(op);
    }
  });

  it('with soft targets too (several labels > 0 per row)', async () => {
    await compare(softSequences(), 'soft');
  });
});

describe.skipIf(!(lavapipe && vulkanBackend) && !requireVulkan)('training on Vulkan (lavapipe)', () => {
  it('is available here', () => {
    expect(vulkanBackend, 'node-llama-cpp\'s Vulkan package (@node-llama-cpp/linux-x64-vulkan) is not installed').toBe(true);
    expect(lavapipe, `no lavapipe driver in ${ICD_DIR}: apt-get install mesa-vulkan-drivers`).toBe(true);
  });

  it('lists the device; auto leaves a software renderer alone and says so; an unknown name is refused', async () => {
    const { devices } = await LoraTrainer.devices();
    const vulkan = devices.find((d) => d.name === 'Vulkan0');
    expect(vulkan?.description).toMatch(/llvmpipe/);
    const auto = await LoraTrainer.create(await models[0]!.path(), { threads: TEST_THREADS });
    expect(auto.device.type).toBe('cpu');
    expect(auto.deviceNote).toMatch(/llvmpipe.*software renderer/);
    auto.dispose();
    await expect(LoraTrainer.create(await models[0]!.path(), { threads: TEST_THREADS, device: 'Vulkan7' })).rejects.toThrow(InvalidTrainingInputError);
    await expect(LoraTrainer.create(await models[0]!.path(), { threads: TEST_THREADS, device: 'Vulkan7' })).rejects.toThrow(/Vulkan0 \(llvmpipe/);
  });

  describe.each(models)('$name', ({ name, logitTolerance, path }) => {
    let cpu: LoraTrainer, gpu: LoraTrainer;
    let dir: string;
    beforeAll(async () => {
      cpu = await LoraTrainer.create(await path(), { threads: TEST_THREADS, device: 'cpu' });
      gpu = await LoraTrainer.create(await path(), { threads: TEST_THREADS, device: 'Vulkan0' });
      dir = outputDir(`vulkan-${name.replace(/\W+/g, '-')}`);
    });
    afterAll(() => {
      cpu?.dispose();
      gpu?.dispose();
    });

    it('trains the CPU\'s adapter with the whole step on the device, and evaluates it as the CPU does', async () => {
      expect(gpu.device).toMatchObject({ name: 'Vulkan0', type: 'gpu' });
      const seqs = sequences();
      const onCpu = await cpu.train({ ...train, targets: [...train.targets], sequences: seqs, outPath: join(dir, 'cpu.gguf') });
      const onGpu = await gpu.train({ ...train, targets: [...train.targets], sequences: seqs, outPath: join(dir, 'vulkan.gguf') });
      expect(onGpu.splits).toBe(1);
      expect(onGpu.graphOps.filter((op) => !GPU_OPS.has(op))).toEqual([]);
      for (let i = 0; i < onCpu.losses.length; i++) expect(relative(onGpu.losses[i]!, onCpu.losses[i]!)).toBeLessThan(1e-3);
      // AdamW's first steps move each weight by about lr * sign(gradient), so weights whose
      // gradient is near 0 differ by last-bit changes; what must agree is what the adapter does.
      const cpuAdapterLoss = await cpu.loss(seqs, [{ path: onCpu.outPath }]);
      const gpuAdapterLoss = await cpu.loss(seqs, [{ path: onGpu.outPath }]);
      expect(relative(gpuAdapterLoss, cpuAdapterLoss)).toBeLessThan(2e-3);
      const adapters = [{ path: onCpu.outPath }];
      expect(relative(await gpu.loss(seqs, adapters), await cpu.loss(seqs, adapters))).toBeLessThan(1e-3);
      const a = await cpu.logits(seqs[0]!.tokens, adapters), b = await gpu.logits(seqs[0]!.tokens, adapters);
      let diff = 0, range = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
        range = Math.max(range, Math.abs(a[i]!));
      }
      expect(diff / range).toBeLessThan(logitTolerance);
    }, LAVAPIPE_TIMEOUT_MS);
  });

  it('answers with adapters on Vulkan as on the CPU: a set of two at different scales, their merge, greedy text and scores (node-llama-cpp)', async () => {
    const path = await models[0]!.path();
    const dir = outputDir('vulkan-answer');
    const trainer = await LoraTrainer.create(path, { threads: TEST_THREADS, device: 'cpu' });
    const seqs = sequences();
    const first = await trainer.train({ ...train, targets: [...train.targets], sequences: seqs, outPath: join(dir, 'a.gguf') });
    const second = await trainer.train({ ...train, targets: [...train.targets], sequences: seqs.slice(1), seed: 9, outPath: join(dir, 'b.gguf') });
    trainer.dispose();
    const adapters = [{ path: first.outPath, scale: 1 }, { path: second.outPath, scale: 0.5 }];
    const merged = join(dir, 'merged.gguf');
    await mergeAdapters(adapters, merged, 'f32');
    const vulkan = await getLlama({ gpu: 'vulkan', build: 'never', usePrebuiltBinaries: true, progressLogs: false, logLevel: 'error' as never });
    expect(await vulkan.getGpuDeviceNames()).toEqual([expect.stringMatching(/llvmpipe/)]);
    const models_: LlamaModel[] = [
      await (await referenceLlama()).loadModel({ modelPath: path, gpuLayers: 0 }),
      await vulkan.loadModel({ modelPath: path, gpuLayers: 'max' }),
    ];
    try {
      const [cpuLogits, gpuLogits, gpuMerged] = [
        await referenceLogits(models_[0]!, seqs[0]!.tokens, { adapters, threads: 1 }),
        await referenceLogits(models_[1]!, seqs[0]!.tokens, { adapters, threads: 1 }),
        await referenceLogits(models_[1]!, seqs[0]!.tokens, { adapters: [{ path: merged }], threads: 1 }),
      ];
      for (const other of [gpuLogits, gpuMerged]) {
        let diff = 0, range = 0;
        for (let i = 0; i < cpuLogits.length; i++) {
          diff = Math.max(diff, Math.abs(cpuLogits[i]! - other[i]!));
          range = Math.max(range, Math.abs(cpuLogits[i]!));
        }
        expect(diff / range).toBeLessThan(5e-3);
      }
      // Greedy continuations: the text an answer would be.
      const greedy = async (model: LlamaModel) => {
        const context = await model.createContext({ contextSize: 128, threads: 1, flashAttention: false, lora: { adapters: adapters.map((a) => ({ filePath: a.path, scale: a.scale })) } });
        try {
          const out: number[] = [];
          for await (const token of context.getSequence().evaluate(seqs[0]!.tokens as never[], { temperature: 0 })) {
            out.push(token as number);
            if (out.length === 12) break;
          }
          return out;
        } finally {
          await context.dispose();
        }
      };
      expect(await greedy(models_[1]!)).toEqual(await greedy(models_[0]!));
    } finally {
      for (const m of models_) await m.dispose();
      await vulkan.dispose();
    }
  }, LAVAPIPE_TIMEOUT_MS);
});
