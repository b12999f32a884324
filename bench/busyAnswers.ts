// Answers while the encoder works (issue #16): the latency of the same questions on an idle
// machine, then while the encoder process encodes other passages: at normal priority, at the
// background priority (electron/node/processPriority.ts), and as the app runs it, at background
// priority and pausing while an answer runs (pauseForAnswers); also paused but only niced, as the
// app ran before the encoder's threads moved to Linux's idle class. Answers and
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
import { Engine, type EncoderControl } from '../electron/core/engine.js';
import { readEvalDocuments, readEvalQuestions } from '../electron/core/eval/evaluate.js';
import { forkEncoderWorker, startEncoderProcess } from '../electron/node/encoderProcess.js';
import type { AnswerMode } from '../electron/shared/types.js';
import { arg, benchDocsPath, benchModelPath, mean, numberArg } from './benchModel.js';

/**
 * A measured setting: the encoder's state (none, normal or background priority) and whether the
 * engine tells it when answers run. Settings of one phase share one encoder process and take
 * turns question by question, so that they meet the same encoder work.
 */
interface Setting { name: string; pauseForAnswers: boolean }
interface Phase { encoder: 'none' | 'normal' | 'niced' | 'background'; settings: Setting[] }

const PHASES: Phase[] = [
  { encoder: 'none', settings: [{ name: 'idle', pauseForAnswers: false }] },
  { encoder: 'normal', settings: [{ name: 'encoding, normal priority', pauseForAnswers: false }] },
  { encoder: 'niced', settings: [{ name: 'encoding, niced only (no idle class), paused for answers', pauseForAnswers: true }] },
  {
    encoder: 'background',
    settings: [
      { name: 'encoding, background priority', pauseForAnswers: false },
      { name: 'encoding, background priority, paused for answers (the app)', pauseForAnswers: true },
    ],
  },
  // Again at the end: the machine's drift over the run shows as the difference of the two.
  { encoder: 'none', settings: [{ name: 'idle, again', pauseForAnswers: false }] },
];

interface SettingResult {
  setting: string;
  /** Mean answer milliseconds per mode (and `<mode> median`). */
  ms: Record<string, number>;
  /** Passages the encoder finished during the setting's phase, and the phase's seconds. */
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
  // The engine tells the phase's encoder when its answers start and end, in the settings that pause it.
  let encoder: EncoderControl | null = null;
  let pauseForAnswers = false;
  const engine = await Engine.open({
    dataDir, modelPath, threads,
    createEncoder: () => ({ notify: () => encoder?.notify(), answering: (active) => { if (pauseForAnswers) encoder?.answering(active); }, close: async () => undefined }),
  });
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

    // Each question in each mode once per setting: one pass over the questions per setting, the
    // settings taking turns question by question (never the same question twice in a row, whose
    // prompt would come from the KV cache).
    const answerAll = async (settings: Setting[]): Promise<Record<string, number>[]> => {
      const times = settings.map(() => Object.fromEntries(modes.map((m) => [m, [] as number[]])));
      for (const mode of modes) {
        for (let pass = 0; pass < settings.length; pass++) {
          for (const [i, q] of questions.entries()) {
            const j = (i + pass) % settings.length;
            pauseForAnswers = settings[j]!.pauseForAnswers;
            const started = performance.now();
            await engine.answerOnce({ question: q.question, mode, k: 3, maxTokens: 32 });
            times[j]![mode]!.push(performance.now() - started);
          }
        }
      }
      return times.map((byMode) => Object.fromEntries(modes.flatMap((m) => [[m, mean(byMode[m]!)], [`${m} median`, median(byMode[m]!)]])));
    };
    const done = () => engine.jobs.status(baseModel).done;

    // A first round warms the model, the adapter cache and the page cache up.
    await answerAll(PHASES[0]!.settings);
    const results: SettingResult[] = [];
    for (const phase of PHASES) {
      if (phase.encoder !== 'none') {
        encoder = startEncoderProcess(engine, (message) => console.error(`bench: ${message}`), forkEncoderWorker, {
          background: phase.encoder === 'background' || phase.encoder === 'niced',
          idleClass: phase.encoder === 'background',
        });
        // Measured once the encoder is past loading and into its passages.
        while (engine.jobs.status(baseModel).running === 0) await new Promise((r) => setTimeout(r, 200));
        await new Promise((r) => setTimeout(r, settleSeconds * 1000));
      }
      try {
        const encodedBefore = done();
        const started = performance.now();
        const ms = await answerAll(phase.settings);
        const seconds = (performance.now() - started) / 1000;
        const encoded = encoder ? done() - encodedBefore : null;
        phase.settings.forEach((setting, j) => results.push({ setting: setting.name, ms: ms[j]!, encoded, seconds }));
      } finally {
        await encoder?.close();
        encoder = null;
      }
    }

    // The baseline: the mean of the idle settings, before and after.
    const idleResults = results.filter((r) => r.encoded === null);
    const idle = Object.fromEntries(modes.map((m) => [m, mean(idleResults.map((r) => r.ms[m]!))]));
    const report = {
      model: modelPath, threads, questions: questions.length, modes,
      settings: results.map((r) => ({
        ...r,
        ratio: Object.fromEntries(modes.map((m) => [m, r.ms[m]! / idle[m]!])),
        passagesPerHour: r.encoded === null ? null : (3600 * r.encoded) / r.seconds,
      })),
    };
    console.log(JSON.stringify(report, null, 2));
    console.log(`\n| setting | ${modes.map((m) => `${m} ms (x idle)`).join(' | ')} | passages encoded meanwhile |`);
    console.log(`| --- | ${modes.map(() => '---').join(' | ')} | --- |`);
    for (const r of report.settings) {
      console.log(`| ${r.setting} | ${modes.map((m) => `${r.ms[m]!.toFixed(0)} (${r.ratio[m]!.toFixed(2)})`).join(' | ')} | ${r.encoded === null ? '—' : `${r.encoded} in ${r.seconds.toFixed(0)} s`} |`);
    }
  } finally {
    await engine.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
