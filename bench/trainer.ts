// Benchmark of the native LoRA trainer (DESIGN §5 "Encoding"), by default on a random-weight
// model with the exact shape of Llama-3.2-1B (2048 hidden, 8192 FFN, 16 layers, 32/8 heads,
// llama-bpe vocab of 128256, rope base 500000, tied output), quantized to Q4_K_M by llama.cpp's
// quantizer; compute cost does not depend on the weights. Measures, in one process, on one
// device and with the same threads: training tokens/s against node-llama-cpp's prompt-eval
// tokens/s on the same device, seconds (and passages per hour) to train one passage with the
// paper's recipe (5 sequences of ~200 tokens, rank 2, alpha 32, FFN targets, lr 3e-4, 1 epoch,
// batch 1), the graph splits of a step and peak RSS. Prints JSON and a markdown table.
//
// Usage: node dist/bench/trainer.js [--threads 2] [--tokens 200] [--sequences 5]
//        [--model 1b|world|smollm2|gemma3|<path>] [--device cpu|auto|all|CUDA0|Vulkan0]
//        [--lora-layers 1] (the share of layers, from the top, that get a LoRA)
//        [--backward-weights q8_0|q4_0] (the type of the transposed backward weights)
//        [--epochs 1] [--head 0] (no loss on each sequence's first n tokens, as the encoder
//        leaves the prompt's fixed head out of the loss)
// (the first run of the 1B shape writes .cache/bench/*.gguf: a ~2.5 GB F16 file, quantized,
// then deleted). Mesa's lavapipe shows as a Vulkan device with GGML_VK_VISIBLE_DEVICES=0.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getLlama } from 'node-llama-cpp';
import { firstAdaptedLayer } from '../electron/core/encoding/passageEncoder.js';
import { LoraTrainer } from '../electron/core/trainer/LoraTrainer.js';
import { arg, benchModelPath, numberArg, randomSequences, repoRoot } from './benchModel.js';

const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;

async function main(): Promise<void> {
  const modelChoice = arg('model', '1b');
  const modelPath = await benchModelPath(modelChoice);
  const request = arg('device', 'cpu');
  // --device all: every device the trainer finds, one after the other (peak RSS then covers
  // the runs before too).
  const devices = request === 'all' ? (await LoraTrainer.devices()).devices.map((d) => d.name) : [request];
  for (const device of devices) await benchDevice(modelChoice, modelPath, device);
}

async function benchDevice(modelChoice: string, modelPath: string, deviceRequest: string): Promise<void> {
  const threads = numberArg('threads', 2);
  const tokens = numberArg('tokens', 200);
  const count = numberArg('sequences', 5);

  // Trainer first, so its peak RSS is measured before llama.cpp loads the model again.
  const started = performance.now();
  const backwardWeights = arg('backward-weights', 'q8_0') as 'q8_0' | 'q4_0';
  const trainer = await LoraTrainer.create(modelPath, { threads, device: deviceRequest, backwardWeights });
  const device = trainer.device;
  const onGpu = device.type !== 'cpu';
  const loadSeconds = (performance.now() - started) / 1000;
  const epochs = numberArg('epochs', 1);
  const head = numberArg('head', 0);
  const seqs = randomSequences(count, tokens, trainer.info.nVocab, 1, head);
  const outDir = join(repoRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const loraLayers = numberArg('lora-layers', 1);
  const firstLayer = firstAdaptedLayer(trainer.info.nLayer, loraLayers);
  const recipe = { sequences: seqs, rank: 2, alpha: 32, lr: 3e-4, epochs, batchSize: 1, firstLayer } as const;
  // The first training also builds the transposed backward weights (once per loaded model).
  const first = await trainer.train({ ...recipe, seed: 0, outPath: join(outDir, 'passage-first.gguf') });
  const second = await trainer.train({ ...recipe, seed: 1, outPath: join(outDir, 'passage.gguf') });
  const trainerPeakRss = peakRssMiB();

  // node-llama-cpp prompt eval of the same sequences, same threads, default context options,
  // on the trainer's device (every layer offloaded) or the CPU.
  const gpu = !onGpu ? false : device.name.startsWith('CUDA') ? 'cuda' : 'vulkan';
  const llama = await getLlama({ gpu, build: 'never', progressLogs: false, logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath, gpuLayers: onGpu ? 'max' : 0 });
  const context = await model.createContext({ contextSize: Math.max(512, tokens + 16), threads, batchSize: Math.max(512, tokens) });
  const sequence = context.getSequence();
  await sequence.evaluateWithoutGeneratingNewTokens(seqs[0]!.tokens.slice(0, 16) as never); // warm-up
  await sequence.clearHistory();
  const promptEval = async () => {
    const t0 = performance.now();
    for (const seq of seqs) {
      await sequence.evaluateWithoutGeneratingNewTokens(seq.tokens as never);
      await sequence.clearHistory();
    }
    return (count * tokens) / ((performance.now() - t0) / 1000);
  };
  // Interleaved (eval, train, eval), because a shared machine's load drifts over minutes.
  const evalBefore = await promptEval();
  const third = await trainer.train({ ...recipe, seed: 2, outPath: join(outDir, 'passage-third.gguf') });
  const evalAfter = await promptEval();
  trainer.dispose();
  await context.dispose();
  await model.dispose();
  const trainTokensPerSecond = (2 * count * tokens * epochs) / (second.seconds + third.seconds);
  const evalTokensPerSecond = (evalBefore + evalAfter) / 2;

  const passageSeconds = (second.seconds + third.seconds) / 2;
  const result = {
    model: { choice: modelChoice, architecture: trainer.info.architecture, path: modelPath, bytes: statSync(modelPath).size },
    device: { name: device.name, description: device.description, type: device.type, note: trainer.deviceNote },
    threads,
    recipe: { sequences: count, tokensPerSequence: tokens, headWithoutLoss: head, rank: 2, alpha: 32, targets: 'ffn_gate,ffn_up,ffn_down', loraLayers, firstLayer, lr: 3e-4, epochs, batchSize: 1 },
    backwardWeights,
    trainerLoadSeconds: loadSeconds,
    passageSecondsFirst: first.seconds,
    passageSeconds,
    passageSecondsRuns: [second.seconds, third.seconds],
    passagesPerHour: 3600 / passageSeconds,
    graphSplits: Math.max(second.splits, third.splits),
    forwardCopies: second.forwardCopies,
    trainTokensPerSecond,
    promptEvalTokensPerSecond: evalTokensPerSecond,
    promptEvalTokensPerSecondRuns: [evalBefore, evalAfter],
    ratio: trainTokensPerSecond / evalTokensPerSecond,
    trainerPeakRssMiB: trainerPeakRss,
    processPeakRssMiB: peakRssMiB(),
    losses: second.losses,
    adapterBytes: statSync(join(outDir, 'passage.gguf')).size,
  };
  writeFileSync(join(outDir, `trainer-${modelChoice.replace(/\W+/g, '-')}-${device.name}-layers${loraLayers}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log([
    '',
    `| metric (${threads} threads, ${modelChoice}, ${device.description} ${device.name}, LoRA from layer ${firstLayer}) | value |`,
    '|---|---|',
    `| passages per hour (training only) | ${result.passagesPerHour.toFixed(0)} |`,
    `| training tokens/s | ${trainTokensPerSecond.toFixed(1)} |`,
    `| node-llama-cpp prompt-eval tokens/s | ${evalTokensPerSecond.toFixed(1)} |`,
    `| ratio | ${result.ratio.toFixed(3)} |`,
    `| graph splits per step (1: all on the device) | ${result.graphSplits} |`,
    `| matrices multiplied by Q8_0 copies in the forward pass | ${result.forwardCopies ?? 'n/a (older addon)'} |`,
    `| seconds per passage (${count} x ${tokens} tokens${head > 0 ? `, loss from token ${head}` : ''}, ${epochs} epoch${epochs === 1 ? '' : 's'}) | ${result.passageSeconds.toFixed(1)} |`,
    `| first passage incl. backward weights | ${first.seconds.toFixed(1)} |`,
    `| trainer peak RSS (MiB) | ${trainerPeakRss.toFixed(0)} |`,
    `| adapter size (bytes) | ${result.adapterBytes} |`,
  ].join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
