// Online cost of one question (issue #5, DESIGN §5 "Online"), measured through the same
// Answerer the app uses: BM25 retrieval, adapter switching (cold: adapter files loaded from
// disk; cached: already in memory, only applied), prompt evaluation and generation, for context,
// parametric and combine at several top-k; then decode speed with k adapters applied against
// none. The corpus and questions are the world dev split. Every passage gets a copy of one
// trained adapter: adapters' values do not change their compute, only which answer comes out.
//
// Usage: node dist/bench/online.js [--model world|1b|<gguf>] [--threads 2] [--questions 12]
//        [--ks 1,3,6,10] [--max-tokens 32] [--decode-tokens 64] [--decode-rounds 7]
//        [--adapter-type f32|f16|q8_0|q4_k|q3_k (default q3_k)]
//        [--no-merge] (apply an answer's adapters one by one instead of merged into one file)
//        [--sequences 2] (KV caches: 2 as the app has, combine's two prompts each keep theirs; 1 clears at every switch)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AnswerMode } from '../electron/shared/types.js';
import { Answerer, type AdapterSource } from '../electron/core/answer/answerer.js';
import { openDatabase } from '../electron/core/database/database.js';
import { DocumentStore } from '../electron/core/database/documentStore.js';
import { readEvalDocuments, readEvalQuestions } from '../electron/core/eval/evaluate.js';
import { Importer } from '../electron/core/ingest/importer.js';
import { LlmRuntime } from '../electron/core/llm/llmRuntime.js';
import { renderRewritePrompt } from '../electron/core/llm/promptProfile.js';
import { Bm25Retriever } from '../electron/core/retrieval/bm25.js';
import { Retriever } from '../electron/core/retrieval/retriever.js';
import { VectorStore } from '../electron/core/retrieval/vectorStore.js';
import { LoraTrainer, type AdapterTensorType } from '../electron/core/trainer/LoraTrainer.js';
import { arg, benchModelPath, mean, numberArg, repoRoot, WORLD_DEV } from './benchModel.js';

const MODES: AnswerMode[] = ['context', 'parametric', 'combine'];

interface OnlineRow {
  k: number;
  mode: AnswerMode;
  questions: number;
  retrievalMs: number;
  adapterColdMs: number;
  adapterCachedMs: number;
  promptTokens: number;
  promptMs: number;
  generatedTokens: number;
  generateMs: number;
  /** retrieval + cached adapter switch + prompt + generation. */
  totalMs: number;
  totalColdMs: number;
  /** Why the row has no numbers (e.g. the prompt does not fit the context). */
  skipped?: string;
}

async function main(): Promise<void> {
  const modelChoice = arg('model', 'world');
  const threads = numberArg('threads', 2);
  const questionCount = numberArg('questions', 12);
  const ks = arg('ks', '1,3,6,10').split(',').map(Number);
  const maxTokens = numberArg('max-tokens', 32);
  const decodeTokens = numberArg('decode-tokens', 64);
  const decodeRounds = numberArg('decode-rounds', 7);
  const adapterType = arg('adapter-type', 'q3_k') as AdapterTensorType;
  const merge = !process.argv.includes('--no-merge');
  const sequences = numberArg('sequences', 2);
  const modelPath = await benchModelPath(modelChoice);

  const dir = mkdtempSync(join(tmpdir(), 'paramkb-bench-online-'));
  try {
    const db = openDatabase(join(dir, 'kb.sqlite'));
    const documents = new DocumentStore(db, () => null);
    new Importer(db, documents).importRecords(readEvalDocuments(join(WORLD_DEV, 'docs.jsonl')));
    const allQuestions = readEvalQuestions(join(WORLD_DEV, 'questions.jsonl'));
    // Every n-th question, so single, bridge and comparison questions all appear.
    const step = Math.max(1, Math.floor(allQuestions.length / questionCount));
    const questions = allQuestions.filter((_, i) => i % step === 0).slice(0, questionCount);
    const bm25 = new Bm25Retriever(db);
    // BM25 (no embedding model here) with the default second hop, as an answer in the app.
    const retriever = new Retriever(bm25, new VectorStore(db), documents, () => null);

    const trainer = await LoraTrainer.create(modelPath, { threads });
    const trainedAdapter = join(dir, 'trained.gguf');
    const someTokens = Array.from({ length: 32 }, (_, i) => 100 + i * 7);
    await trainer.train({ sequences: [{ tokens: someTokens }], rank: 2, alpha: 32, lr: 1e-3, epochs: 1, outPath: trainedAdapter, outType: adapterType });
    trainer.dispose();
    mkdirSync(join(dir, 'adapters'));
    const adapterPath = (passageId: number) => {
      const path = join(dir, 'adapters', `${passageId}.gguf`);
      if (!existsSync(path)) copyFileSync(trainedAdapter, path);
      return path;
    };
    const adapterSource: AdapterSource = {
      adaptersFor: (ids) => new Map(ids.map((id) => [id, adapterPath(id)])),
      requestEncoding: () => undefined,
    };

    const runtime = await LlmRuntime.load({ modelPath, threads, adapterCacheBytes: 2 ** 31, mergeAdapterSets: merge, sequences });
    const answerer = new Answerer(retriever, () => runtime, adapterSource);
    // Warm-up on a question outside the measured ones: its prompt stays in a KV cache, and a
    // measured question with the same passages would then skip its prompt evaluation.
    const warmUp = allQuestions.find((q) => !questions.includes(q)) ?? questions[0]!;
    await answerer.answer({ question: warmUp.question, mode: 'context', k: 1, maxTokens: 4 });

    const rows: OnlineRow[] = [];
    for (const k of ks) {
      for (const mode of MODES) {
        await runtime.unloadAdapters();
        const samples: Omit<OnlineRow, 'k' | 'mode' | 'questions' | 'skipped'>[] = [];
        let skipped: string | undefined;
        for (const q of questions) {
          // Cold: nothing in memory, every adapter file is read and loaded.
          await runtime.unloadAdapters();
          let result;
          try {
            result = await answerer.answer({ question: q.question, mode, k, maxTokens });
          } catch (error) {
            skipped = (error as Error).message;
            break;
          }
          const applied = result.adapters;
          // Cached: the adapters stay loaded; switching to this set from another costs this.
          let cachedMs = 0;
          if (applied.length > 0) {
            await runtime.setAdapters([]);
            const t0 = performance.now();
            await runtime.setAdapters(applied);
            cachedMs = performance.now() - t0;
          }
          const g = result.generation;
          const rest = result.retrievalMs + g.timings.promptMs + g.timings.generateMs;
          samples.push({
            retrievalMs: result.retrievalMs,
            adapterColdMs: applied.length ? g.timings.adapterMs : 0,
            adapterCachedMs: cachedMs,
            promptTokens: g.promptTokens,
            promptMs: g.timings.promptMs,
            generatedTokens: g.generatedTokens,
            generateMs: g.timings.generateMs,
            totalMs: rest + cachedMs,
            totalColdMs: rest + (applied.length ? g.timings.adapterMs : 0),
          });
        }
        const avg = (key: keyof (typeof samples)[number]) => mean(samples.map((s) => s[key]));
        rows.push({
          k, mode, questions: samples.length,
          retrievalMs: avg('retrievalMs'), adapterColdMs: avg('adapterColdMs'), adapterCachedMs: avg('adapterCachedMs'),
          promptTokens: avg('promptTokens'), promptMs: avg('promptMs'), generatedTokens: avg('generatedTokens'), generateMs: avg('generateMs'),
          totalMs: avg('totalMs'), totalColdMs: avg('totalColdMs'),
          ...(skipped && samples.length === 0 ? { skipped } : {}),
        });
        console.error(`bench: k=${k} ${mode} ${skipped && samples.length === 0 ? `skipped (${skipped})` : `${rows.at(-1)!.totalMs.toFixed(0)} ms`}`);
      }
    }

    // Decode speed with n adapters (the first n passages' copies) against none. The prompt asks
    // for a rewrite so that a trained model writes a long answer.
    const passage = bm25.search(questions[0]!.question, 1)[0]!;
    const prompt = runtime.promptTokens([{ role: 'user', content: renderRewritePrompt(runtime.profile, passage.text) }]);
    // Rounds over all adapter counts, so a drift of the machine's speed hits every count alike;
    // the median of each count is reported.
    const counts = [0, 1, 3, 6, 10];
    const speeds = new Map<number, number[]>(counts.map((n) => [n, []]));
    const generated = new Map<number, number>();
    for (let round = 0; round < decodeRounds; round++) {
      for (const n of counts) {
        const applied = Array.from({ length: n }, (_, i) => ({ filePath: adapterPath(1_000_000 + i), scale: 1 }));
        const g = await runtime.generate({ tokens: prompt, adapters: applied, maxTokens: decodeTokens });
        generated.set(n, g.generatedTokens);
        if (g.generatedTokens > 1) speeds.get(n)!.push((g.generatedTokens - 1) / (g.timings.generateMs / 1000));
      }
    }
    const median = (values: number[]) => { const v = values.slice().sort((a, b) => a - b); return v.length ? (v[(v.length - 1) >> 1]! + v[v.length >> 1]!) / 2 : 0; };
    const baseSpeed = median(speeds.get(0)!);
    const decode = counts.map((n) => ({ adapters: n, tokensPerSecond: median(speeds.get(n)!), ratio: median(speeds.get(n)!) / baseSpeed, generatedTokens: generated.get(n) ?? 0, runs: speeds.get(n)! }));
    await runtime.dispose();
    db.close();

    const byMode = (k: number, mode: AnswerMode) => rows.find((r) => r.k === k && r.mode === mode && !r.skipped);
    const result = {
      model: { choice: modelChoice, file: basename(modelPath) },
      threads, questions: questions.length, maxTokens, adapterType, merge, sequences,
      rows,
      // Total latency against context's at the same k (combine runs a context answer and a parametric one, then scores both).
      overContext: ks.map((k) => {
        const ratio = (mode: AnswerMode) => (byMode(k, mode) && byMode(k, 'context') ? byMode(k, mode)!.totalMs / byMode(k, 'context')!.totalMs : null);
        return { k, parametric: ratio('parametric'), combine: ratio('combine') };
      }),
      decode,
    };
    const outDir = join(repoRoot, 'bench', 'out');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, `online-${modelChoice.replace(/[^a-z0-9]+/gi, '_')}${merge ? '' : '-unmerged'}${sequences === 2 ? '' : `-seq${sequences}`}.json`), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    console.log(`\n${result.model.file}, ${threads} threads, ${questions.length} questions, at most ${maxTokens} new tokens, ${adapterType} adapters${merge ? ', merged per answer' : ', applied one by one'}`);
    console.log('| k | mode | retrieval ms | adapters cold ms | adapters cached ms | prompt tokens | prompt ms | new tokens | generation ms | total ms (cached) | total ms (cold) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      if (r.skipped) { console.log(`| ${r.k} | ${r.mode} | ${r.skipped} |||||||||`); continue; }
      console.log(`| ${r.k} | ${r.mode} | ${f(r.retrievalMs)} | ${f(r.adapterColdMs)} | ${f(r.adapterCachedMs)} | ${f(r.promptTokens)} | ${f(r.promptMs)} | ${f(r.generatedTokens)} | ${f(r.generateMs)} | ${f(r.totalMs)} | ${f(r.totalColdMs)} |`);
    }
    const r2 = (v: number | null) => (v === null ? '-' : v.toFixed(2));
    console.log('\n| k | parametric / context total | combine / context total |\n| --- | --- | --- |');
    for (const p of result.overContext) console.log(`| ${p.k} | ${r2(p.parametric)} | ${r2(p.combine)} |`);
    console.log(`\n| adapters | decode tokens/s (median of ${decodeRounds}) | vs none |\n| --- | --- | --- |`);
    for (const d of decode) console.log(`| ${d.adapters} | ${d.tokensPerSecond.toFixed(1)} | ${d.ratio.toFixed(2)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
