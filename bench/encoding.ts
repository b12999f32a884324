// Cost of parametric encoding (DESIGN §5 "Encoding"): the first N passages of a corpus go
// through the real pipeline (augmentation with the base model, then the native trainer,
// through the job queue), and the seconds of each part are reported with passages per hour,
// training tokens/s and, as the baseline measured in the same run, node-llama-cpp's
// prompt-eval tokens/s on the same model, threads and passages. Augmentation outputs that
// could not be used (no rewrite, fewer QA pairs than asked) are counted.
//
// Usage: node dist/bench/encoding.js [--model world|1b|smollm2|gemma3|<gguf>] [--docs world|hotpotqa|<jsonl>]
//        [--passages 8] [--threads 2] [--objective next-token|distill] [--epochs N] [--lora-layers S]
//        [--training-set paper|<steps such as P1,C1,P2,C2,C3>] [--augment-batch N]
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
import { renderQaGenerationPrompt } from '../electron/core/llm/promptProfile.js';
import { databasePath } from '../electron/core/paths.js';
import { TRAINING_OBJECTIVES, writesRewrite, type EncodingConfig, type TrainingObjective } from '../electron/core/encoding/passageEncoder.js';
import { isTrainingSet, type TrainingSet } from '../electron/core/encoding/trainingSequences.js';
import { arg, benchDocsPath, benchModelPath, numberArg, repoRoot } from './benchModel.js';

async function main(): Promise<void> {
  const modelChoice = arg('model', 'world');
  const passageCount = numberArg('passages', 8);
  const threads = numberArg('threads', 2);
  const docsChoice = arg('docs', 'world');
  const objective = arg('objective', 'next-token') as TrainingObjective;
  if (!TRAINING_OBJECTIVES.includes(objective)) throw new Error(`--objective must be one of ${TRAINING_OBJECTIVES.join(', ')}`);
  const config: Partial<EncodingConfig> = { objective };
  if (process.argv.includes('--epochs')) config.epochs = numberArg('epochs', 3);
  if (process.argv.includes('--lora-layers')) config.loraLayers = numberArg('lora-layers', 1);
  if (process.argv.includes('--augment-batch')) config.augmentBatch = numberArg('augment-batch', 4);
  const trainingSet: TrainingSet = arg('training-set', 'paper');
  if (!isTrainingSet(trainingSet)) throw new Error('--training-set must be paper or steps such as P1,C1,P2,C2,C3');
  config.trainingSet = trainingSet;
  const modelPath = await benchModelPath(modelChoice);
  const dataDir = mkdtempSync(join(tmpdir(), 'paramkb-bench-encoding-'));
  try {
    const db = openDatabase(databasePath(dataDir));
    new Importer(db, new DocumentStore(db, () => null)).importRecords(readEvalDocuments(benchDocsPath(docsChoice)).slice(0, passageCount));
    db.close();

    const loadStarted = performance.now();
    const session = await openEncodingSession({ dataDir, modelPath, threads, useGpu: false, config });
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const passages = session.db.prepare('SELECT id, text FROM passages ORDER BY id').all() as { id: number; text: string }[];
    session.jobs.enqueue(passages.map((p) => p.id), session.runtime.fingerprint);
    const encoded: EncodedPassage[] = [];
    const started = performance.now();
    await session.encoder.runQueue({ onEncoded: (e) => encoded.push(e) });
    const wallSeconds = (performance.now() - started) / 1000;

    // Baseline: prompt evaluation of token sequences of the same passages (the QA-generation
    // prompt holds the passage), on the same model and threads.
    let evalTokens = 0;
    let evalMs = 0;
    for (const p of passages) {
      const tokens = session.runtime.promptTokens([{ role: 'user', content: renderQaGenerationPrompt(session.runtime.profile, p.text) }]);
      const g = await session.runtime.generate({ tokens, maxTokens: 1 });
      evalTokens += g.evaluatedPromptTokens;
      evalMs += g.timings.promptMs;
    }
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
    const augmentSeconds = sum((e) => e.augmentSeconds);
    const trainSeconds = sum((e) => e.trainSeconds);
    const trainTokens = sum((e) => e.trainTokens);
    const teacherSeconds = sum((e) => e.teacherSeconds);
    const trainTokensPerSecond = trainTokens / trainSeconds;
    const promptEvalTokensPerSecond = evalTokens / (evalMs / 1000);
    const result = {
      model: { choice: modelChoice, file: basename(modelPath) }, docs: docsChoice, objective, overrides: config,
      threads, passages: encoded.length, failed: passages.length - encoded.length, loadSeconds,
      augmentSecondsPerPassage: augmentSeconds / encoded.length,
      teacherSecondsPerPassage: teacherSeconds / encoded.length,
      trainSecondsPerPassage: trainSeconds / encoded.length,
      wallSecondsPerPassage: wallSeconds / encoded.length,
      passagesPerHour: (3600 * encoded.length) / wallSeconds,
      trainTokensPerPassage: trainTokens / encoded.length,
      trainTokensPerSecond, promptEvalTokensPerSecond, ratio: trainTokensPerSecond / promptEvalTokensPerSecond,
      augmentation,
    };
    const outDir = join(repoRoot, 'bench', 'out');
    mkdirSync(outDir, { recursive: true });
    const variant = [objective, ...Object.entries(config).filter(([k]) => k !== 'objective').map(([k, v]) => `${k}${v}`)].join('-');
    writeFileSync(join(outDir, `encoding-${modelChoice.replace(/[^a-z0-9]+/gi, '_')}-${variant}.json`), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    console.log(`\n${result.model.file}, ${threads} threads, ${encoded.length} passages (model and trainer load once: ${loadSeconds.toFixed(1)} s)`);
    console.log('| objective | augmentation s/passage | teacher s/passage | training s/passage | wall s/passage | passages/hour | training tokens/s | prompt-eval tokens/s | ratio | QA pairs written / wanted | no QA | no rewrite |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    console.log(`| ${variant} | ${result.augmentSecondsPerPassage.toFixed(2)} | ${result.teacherSecondsPerPassage.toFixed(2)} | ${result.trainSecondsPerPassage.toFixed(2)} | ${result.wallSecondsPerPassage.toFixed(2)} | ${result.passagesPerHour.toFixed(0)} | ${trainTokensPerSecond.toFixed(0)} | ${promptEvalTokensPerSecond.toFixed(0)} | ${result.ratio.toFixed(3)} | ${augmentation.qaPairs} / ${augmentation.qaPairsWanted} | ${augmentation.withoutAnyQa} | ${augmentation.withoutRewrite ?? '-'} |`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
