// Cost of parametric encoding (DESIGN §5 "Encoding"): the first N passages of a corpus go
// through the real pipeline (augmentation with the base model, then the native trainer,
// through the job queue), and the seconds of each part are reported with passages per hour,
// and training tokens/s (the trainer's own ratio to prompt evaluation is bench/trainer.ts's).
// Augmentation outputs that could not be used (no rewrite, fewer QA pairs than asked) are
// counted. With --baseline, each round also encodes the same passages with the encoder as it was
// before augmentation ran beside training (augmentation on every thread, taking turns with
// training, 3 epochs at lr 2e-3), alternately and first, and the passages-per-hour ratio against
// it is printed: the speed-up measured in one run.
//
// Usage: node dist/bench/encoding.js [--model world|1b|smollm2|gemma3|<gguf>] [--docs world|hotpotqa|<jsonl>]
//        [--passages 8] [--threads 2] [--objective next-token|distill] [--epochs N] [--lr X] [--lora-layers S]
//        [--training-set paper|<steps such as P1,C1,P2,C2,C3>] [--augment-batch N] [--augment-threads N]
//        [--baseline] [--rounds 1]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../electron/core/database/database.js';
import { DocumentStore } from '../electron/core/database/documentStore.js';
import { openEncodingSession } from '../electron/core/encoding/encodingSession.js';
import type { EncodedPassage } from '../electron/core/encoding/passageEncoder.js';
import type { Augmentation } from '../electron/core/encoding/augmentation.js';
import { readEvalDocuments } from '../electron/core/eval/evaluate.js';
import { Importer } from '../electron/core/ingest/importer.js';
import { databasePath } from '../electron/core/paths.js';
import { TRAINING_OBJECTIVES, writesRewrite, type EncodingConfig, type TrainingObjective } from '../electron/core/encoding/passageEncoder.js';
import { isTrainingSet, type TrainingSet } from '../electron/core/encoding/trainingSequences.js';
import { arg, benchDocsPath, benchModelPath, numberArg, repoRoot } from './benchModel.js';

interface Variant {
  label: string;
  config: Partial<EncodingConfig>;
  /** Threads that augment beside training; undefined: the encoder's default split. */
  augmentThreads?: number;
}

async function encodeOnce(variant: Variant, modelPath: string, docsPath: string, passageCount: number, threads: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'paramkb-bench-encoding-'));
  try {
    const db = openDatabase(databasePath(dataDir));
    new Importer(db, new DocumentStore(db, () => null)).importRecords(readEvalDocuments(docsPath).slice(0, passageCount));
    db.close();

    const loadStarted = performance.now();
    const session = await openEncodingSession({ dataDir, modelPath, threads, augmentThreads: variant.augmentThreads, useGpu: false, config: variant.config });
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const passages = session.db.prepare('SELECT id, text FROM passages ORDER BY id').all() as { id: number; text: string }[];
    session.jobs.enqueue(passages.map((p) => p.id), session.runtime.fingerprint);
    const encoded: EncodedPassage[] = [];
    const started = performance.now();
    await session.encoder.runQueue({ onEncoded: (e) => encoded.push(e) });
    const wallSeconds = (performance.now() - started) / 1000;

    const objective = variant.config.objective ?? 'next-token';
    const trainingSet = variant.config.trainingSet ?? 'paper';
    // What the model wrote that could not be used, from the augmentations stored per passage.
    const augmentations = (session.db.prepare('SELECT augmentation FROM passages WHERE augmentation IS NOT NULL').pluck().all() as string[])
      .map((a) => JSON.parse(a) as Augmentation);
    const qaWanted = 3;
    const augmentation = {
      passages: augmentations.length,
      withoutRewrite: !writesRewrite({ objective, trainingSet }) ? null : augmentations.filter((a) => a.rewrite === null).length,
      qaPairs: augmentations.reduce((n, a) => n + a.qa.length, 0),
      qaPairsWanted: qaWanted * augmentations.length,
      withoutAnyQa: augmentations.filter((a) => a.qa.length === 0).length,
    };
    await session.close();

    const sum = (f: (e: EncodedPassage) => number) => encoded.reduce((a, e) => a + f(e), 0);
    const trainSeconds = sum((e) => e.trainSeconds);
    const trainTokens = sum((e) => e.trainTokens);
    const trainTokensPerSecond = trainTokens / trainSeconds;
    return {
      variant: variant.label, overrides: variant.config, augmentThreads: variant.augmentThreads ?? null,
      passages: encoded.length, failed: passages.length - encoded.length, loadSeconds,
      // Augmentation and training overlap in the default encoder: their sum exceeds the wall time.
      augmentSecondsPerPassage: sum((e) => e.augmentSeconds) / encoded.length,
      teacherSecondsPerPassage: sum((e) => e.teacherSeconds) / encoded.length,
      trainSecondsPerPassage: trainSeconds / encoded.length,
      wallSecondsPerPassage: wallSeconds / encoded.length,
      passagesPerHour: (3600 * encoded.length) / wallSeconds,
      trainTokensPerPassage: trainTokens / encoded.length,
      trainTokensPerSecond,
      augmentation,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const modelChoice = arg('model', 'world');
  const passageCount = numberArg('passages', 8);
  const threads = numberArg('threads', 2);
  const docsChoice = arg('docs', 'world');
  const rounds = numberArg('rounds', 1);
  const objective = arg('objective', 'next-token') as TrainingObjective;
  if (!TRAINING_OBJECTIVES.includes(objective)) throw new Error(`--objective must be one of ${TRAINING_OBJECTIVES.join(', ')}`);
  const config: Partial<EncodingConfig> = { objective };
  if (process.argv.includes('--epochs')) config.epochs = numberArg('epochs', 3);
  if (process.argv.includes('--lr')) config.lr = numberArg('lr', 0.002);
  if (process.argv.includes('--lora-layers')) config.loraLayers = numberArg('lora-layers', 1);
  if (process.argv.includes('--augment-batch')) config.augmentBatch = numberArg('augment-batch', 4);
  const trainingSet: TrainingSet = arg('training-set', 'paper');
  if (!isTrainingSet(trainingSet)) throw new Error('--training-set must be paper or steps such as P1,C1,P2,C2,C3');
  config.trainingSet = trainingSet;
  const current: Variant = {
    label: [objective, ...Object.entries(config).filter(([k]) => k !== 'objective').map(([k, v]) => `${k}${v}`)].join('-'),
    config,
    augmentThreads: process.argv.includes('--augment-threads') ? numberArg('augment-threads', 1) : undefined,
  };
  if (current.augmentThreads !== undefined) current.label += `-augmentThreads${current.augmentThreads}`;
  const baseline: Variant = { label: 'baseline (turns, all threads, 3 epochs, lr 2e-3)', config: { ...config, epochs: 3, lr: 0.002 }, augmentThreads: threads };
  const variants = process.argv.includes('--baseline') ? [baseline, current] : [current];
  const modelPath = await benchModelPath(modelChoice);
  const runs: Awaited<ReturnType<typeof encodeOnce>>[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first: a noisy machine's slow minute falls on either.
    for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) runs.push(await encodeOnce(variant, modelPath, benchDocsPath(docsChoice), passageCount, threads));
  }
  const rate = (label: string) => {
    const of = runs.filter((r) => r.variant === label);
    return (3600 * of.reduce((n, r) => n + r.passages, 0)) / of.reduce((n, r) => n + r.wallSecondsPerPassage * r.passages, 0);
  };
  const speedup = variants.length === 2 ? rate(current.label) / rate(baseline.label) : null;
  const result = { model: { choice: modelChoice, file: basename(modelPath) }, docs: docsChoice, threads, passages: passageCount, rounds, runs, speedup };
  const outDir = join(repoRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `encoding-${modelChoice.replace(/[^a-z0-9]+/gi, '_')}-${current.label}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  console.log(`\n${result.model.file}, ${threads} threads, ${passageCount} passages per run (model and trainer load once per run)`);
  console.log('| variant | augmentation s/passage | teacher s/passage | training s/passage | wall s/passage | passages/hour | training tokens/s | QA pairs written / wanted | no QA | no rewrite |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    const a = r.augmentation;
    console.log(`| ${r.variant} | ${r.augmentSecondsPerPassage.toFixed(2)} | ${r.teacherSecondsPerPassage.toFixed(2)} | ${r.trainSecondsPerPassage.toFixed(2)} | ${r.wallSecondsPerPassage.toFixed(2)} | ${r.passagesPerHour.toFixed(0)} | ${r.trainTokensPerSecond.toFixed(0)} | ${a.qaPairs} / ${a.qaPairsWanted} | ${a.withoutAnyQa} | ${a.withoutRewrite ?? '-'} |`);
  }
  if (speedup !== null) console.log(`\npassages per hour against the baseline, same run: ${speedup.toFixed(2)}x`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
