// Answers while the encoder works (issue #16): the latency of the same questions on an idle
// machine, then while the encoder process encodes other passages at normal priority, then at
// the background priority the app gives it (electron/node/processPriority.ts). Answers and
// encoder use the same thread count, every core by default, as a user's app does. The passages
// the questions retrieve are encoded first, so that combine applies their adapters; the encoder
// then works through the rest of the corpus during the busy phases. Also counts the passages the
// encoder finished during each busy phase (a phase of a few questions often ends before one).
//
// Usage: node dist/bench/busyAnswers.js [--model world|1b|smollm2|<gguf>] [--docs world|hotpotqa]
//        [--threads 2] [--questions 6] [--modes context,combine] [--settle 5]
//        [--epochs N] (the knowledge base's setting: fewer make a large model's setup shorter;
//        the answers' cost does not depend on what the adapters learnt)
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openEncodingSession } from '../electron/core/encoding/encodingSession.js';
import { Engine } from '../electron/core/engine.js';
import { readEvalDocuments, readEvalQuestions } from '../electron/core/eval/evaluate.js';
import { forkEncoderWorker, startEncoderProcess } from '../electron/node/encoderProcess.js';
import type { AnswerMode } from '../electron/shared/types.js';
import { arg, benchDocsPath, benchModelPath, mean, numberArg } from './benchModel.js';

type Phase = 'idle' | 'encoding, normal priority' | 'encoding, background priority';

interface PhaseResult {
  phase: Phase;
  /** Mean answer milliseconds per mode. */
  ms: Record<string, number>;
  /** Passages the encoder finished during the phase, and the phase's seconds. */
  encoded: number | null;
  seconds: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 0;
};

async function main(): Promise<void> {
  const threads = numberArg('threads', availableParallelism());
  const modelPath = await benchModelPath(arg('model', 'world'));
  const docsPath = benchDocsPath(arg('docs', 'world'));
  const modes = arg('modes', 'context,combine').split(',') as AnswerMode[];
  const settleSeconds = numberArg('settle', 5);
  const documents = readEvalDocuments(docsPath);
  const questions = readEvalQuestions(join(dirname(docsPath), 'questions.jsonl')).slice(0, numberArg('questions', 6));
  const dataDir = mkdtempSync(join(tmpdir(), 'paramkb-busy-'));
  const engine = await Engine.open({ dataDir, modelPath, threads });
  try {
    engine.settings.update({ threads, encoderThreads: threads });
    if (process.argv.includes('--epochs')) engine.settings.update({ epochs: numberArg('epochs', 3) });
    engine.afterImport(engine.importer.importRecords(documents));
    const baseModel = engine.baseModel!;

    // The questions' passages get adapters first, so that combine applies them.
    const needed = new Set<number>();
    for (const q of questions) for (const hit of (await engine.retriever.retrieve(q.question, 3)).hits) needed.add(hit.passageId);
    const session = await openEncodingSession({ dataDir, modelPath, threads });
    try {
      session.jobs.enqueue([...needed], baseModel);
      const started = performance.now();
      await session.encoder.runQueue({ among: [...needed] });
      console.error(`bench: encoded the ${needed.size} passages the questions retrieve in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await session.close();
    }

    const answerAll = async (): Promise<Record<string, number>> => {
      const ms: Record<string, number> = {};
      for (const mode of modes) {
        const times: number[] = [];
        for (const q of questions) {
          const started = performance.now();
          await engine.answerOnce({ question: q.question, mode, k: 3, maxTokens: 32 });
          times.push(performance.now() - started);
        }
        ms[mode] = mean(times);
        ms[`${mode} median`] = median(times);
      }
      return ms;
    };
    const done = () => engine.jobs.status(baseModel).done;

    // A first round warms the model, the adapter cache and the page cache up.
    await answerAll();
    const results: PhaseResult[] = [];
    let started = performance.now();
    results.push({ phase: 'idle', ms: await answerAll(), encoded: null, seconds: (performance.now() - started) / 1000 });

    for (const background of [false, true]) {
      const encoder = startEncoderProcess(engine, (message) => console.error(`bench: ${message}`), forkEncoderWorker, { background });
      try {
        // Measured once the encoder is past loading and into its passages.
        while (engine.jobs.status(baseModel).running === 0) await new Promise((r) => setTimeout(r, 200));
        await new Promise((r) => setTimeout(r, settleSeconds * 1000));
        const encodedBefore = done();
        started = performance.now();
        const ms = await answerAll();
        const seconds = (performance.now() - started) / 1000;
        results.push({ phase: background ? 'encoding, background priority' : 'encoding, normal priority', ms, encoded: done() - encodedBefore, seconds });
      } finally {
        await encoder.close();
      }
    }

    const idle = results[0]!.ms;
    const report = {
      model: modelPath, threads, questions: questions.length, modes,
      phases: results.map((r) => ({
        ...r,
        ratio: Object.fromEntries(modes.map((m) => [m, r.ms[m]! / idle[m]!])),
        passagesPerHour: r.encoded === null ? null : (3600 * r.encoded) / r.seconds,
      })),
    };
    console.log(JSON.stringify(report, null, 2));
    console.log(`\n| phase | ${modes.map((m) => `${m} ms (x idle)`).join(' | ')} | passages encoded meanwhile |`);
    console.log(`| --- | ${modes.map(() => '---').join(' | ')} | --- |`);
    for (const r of report.phases) {
      console.log(`| ${r.phase} | ${modes.map((m) => `${r.ms[m]!.toFixed(0)} (${r.ratio[m]!.toFixed(2)})`).join(' | ')} | ${r.encoded === null ? '—' : `${r.encoded} in ${r.seconds.toFixed(0)} s`} |`);
    }
  } finally {
    await engine.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
