// Seconds the native trainer takes for one passage at each of several sequence lengths, in one
// process: a user's passages come in every length, and a step's speed can depend on the length
// through more than its token count (the compute buffer's layout: bench/trainer.md, 2026-12-04).
// The lengths run in increasing order after a warm-up at the shortest, so that each one's
// graph is laid out for itself rather than reusing a longer one's layout.
//
// Usage: node dist/bench/trainerLengths.js [--model 1b|world|<path>] [--threads 2]
//        [--lengths 192,196,198,200,201,204,208] [--sequences 5] [--head 0] [--runs 2]
// Prints JSON (also bench/out/trainer-lengths-<model>.json) and a markdown table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoraTrainer } from '../electron/core/trainer/LoraTrainer.js';
import { arg, benchModelPath, mean, numberArg, randomSequences, repoRoot } from './benchModel.js';

async function main(): Promise<void> {
  const modelChoice = arg('model', '1b');
  const modelPath = await benchModelPath(modelChoice);
  const threads = numberArg('threads', 2);
  const count = numberArg('sequences', 5);
  const head = numberArg('head', 0);
  const runs = numberArg('runs', 2);
  const lengths = arg('lengths', '192,196,198,200,201,204,208').split(',').map(Number).sort((a, b) => a - b);
  if (lengths.some((n) => !Number.isInteger(n) || n <= head + 1)) throw new Error(`--lengths wants integers above --head + 1, got ${arg('lengths', '')}`);

  const trainer = await LoraTrainer.create(modelPath, { threads, device: 'cpu' });
  const nVocab = trainer.info.nVocab;
  const outDir = join(repoRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const train = async (length: number, seed: number) => {
    const result = await trainer.train({
      sequences: randomSequences(count, length, nVocab, seed, head), rank: 2, alpha: 32, lr: 3e-4, epochs: 1, batchSize: 1, seed,
      outPath: join(outDir, 'passage-lengths.gguf'),
    });
    return result.seconds;
  };
  // The first training builds the backward weights and forward copies (once per model).
  await train(lengths[0]!, 0);
  const rows: { tokens: number; seconds: number[]; msPerToken: number }[] = [];
  for (const length of lengths) {
    const seconds: number[] = [];
    for (let r = 0; r < runs; r++) seconds.push(await train(length, r + 1));
    rows.push({ tokens: length, seconds, msPerToken: (1000 * mean(seconds)) / (count * length) });
  }
  trainer.dispose();
  const result = { model: modelChoice, threads, sequences: count, headWithoutLoss: head, epochs: 1, rows };
  writeFileSync(join(outDir, `trainer-lengths-${modelChoice.replace(/\W+/g, '-')}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  console.log([
    '',
    `| tokens per sequence (${count} sequences, 1 epoch${head > 0 ? `, loss from token ${head}` : ''}) | seconds per passage | ms per token |`,
    '|---|---|---|',
    ...rows.map((r) => `| ${r.tokens} | ${r.seconds.map((s) => s.toFixed(2)).join(', ')} | ${r.msPerToken.toFixed(1)} |`),
  ].join('\n'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
