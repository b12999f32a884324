// Disk size of one passage's adapter (issue #5, DESIGN §5 "Storage"): rank 1, 2 and 4 on the
// default targets (ffn_gate, ffn_up, ffn_down of every layer), written as every adapter type
// (F32, F16, Q8_0 = lora_a Q8_0 + lora_b F16, and the compact Q4_K and Q3_K), for the
// Llama-3.2-1B shape and the world model. Sizes are measured
// on real files: one short training per rank, then converted. The F1 of each type on the dev
// split comes from `paramkb convert-adapters` + `paramkb eval` (README, "Benchmarks").
//
// Usage: node dist/bench/storage.js [--models 1b,world] [--threads 2]
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { convertAdapter } from '../electron/core/trainer/adapterFiles.js';
import { ADAPTER_TENSOR_TYPES, LoraTrainer } from '../electron/core/trainer/LoraTrainer.js';
import { arg, benchModelPath, numberArg, repoRoot } from './benchModel.js';

const RANKS = [1, 2, 4];

async function main(): Promise<void> {
  const models = arg('models', '1b,world').split(',');
  const threads = numberArg('threads', 2);
  const dir = mkdtempSync(join(tmpdir(), 'paramkb-bench-storage-'));
  const rows: { model: string; rank: number; type: string; bytes: number; bytesPerParameter: number }[] = [];
  try {
    for (const choice of models) {
      const modelPath = await benchModelPath(choice);
      const trainer = await LoraTrainer.create(modelPath, { threads });
      for (const rank of RANKS) {
        const f32 = join(dir, `${choice}-r${rank}.f32.gguf`);
        await trainer.train({ sequences: [{ tokens: [1, 2, 3, 4, 5, 6, 7, 8] }], rank, alpha: 32, lr: 1e-3, epochs: 1, outPath: f32 });
        // Parameters: rank x (in + out) per adapted weight, from the base model's shape.
        const { nEmbd, nFf, nLayer } = trainer.info;
        const parameters = nLayer * rank * 3 * (nEmbd + nFf);
        for (const type of ADAPTER_TENSOR_TYPES) {
          const path = type === 'f32' ? f32 : join(dir, `${choice}-r${rank}.${type}.gguf`);
          if (type !== 'f32') await convertAdapter(f32, path, type);
          const bytes = statSync(path).size;
          rows.push({ model: basename(modelPath), rank, type, bytes, bytesPerParameter: bytes / parameters });
        }
      }
      trainer.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const outDir = join(repoRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'storage.json'), `${JSON.stringify(rows, null, 2)}\n`);
  console.log(JSON.stringify(rows));
  console.log('\n| model | rank | type | bytes per passage | MB | bytes per parameter |\n| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.model} | ${r.rank} | ${r.type} | ${r.bytes} | ${(r.bytes / 1e6).toFixed(3)} | ${r.bytesPerParameter.toFixed(3)} |`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
