// The `paramkb` command: the same core as the app, headless. Data folder and model come from
// flags, then PARAMKB_DATA / PARAMKB_MODEL / PARAMKB_PROFILE, then defaults (the app's folder
// and the model it last opened). Errors print one line and exit non-zero.
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ANSWER_MODES, type AnswerMode } from '../shared/types.js';
import { Engine, type EngineOptions } from '../core/engine.js';
import { DEFAULT_RELEVANCE_EXPONENT } from '../core/answer/answerer.js';
import { evaluate, readEvalDocuments, readEvalQuestions, type EvalReport } from '../core/eval/evaluate.js';
import { openDatabase } from '../core/database/database.js';
import { openEncodingSession } from '../core/encoding/encodingSession.js';
import type { EncodingConfig } from '../core/encoding/passageEncoder.js';
import { databasePath, defaultDataDir } from '../core/paths.js';
import { SettingsStore } from '../core/settingsStore.js';
import { modelFingerprint } from '../core/llm/llmRuntime.js';
import { ADAPTER_TENSOR_TYPES, type AdapterTensorType } from '../core/trainer/LoraTrainer.js';
import { trainerAvailability } from '../core/trainer/nativeTrainerBinding.js';
import { EncodingUnavailableError, ParamKbError } from '../shared/errors.js';
import { formatBytes } from '../shared/format.js';

interface GlobalOptions { data?: string; model?: string; profile?: string }

function parseMode(value: string): AnswerMode {
  if (!ANSWER_MODES.includes(value as AnswerMode)) throw new InvalidArgumentError(`use one of ${ANSWER_MODES.join(', ')}`);
  return value as AnswerMode;
}

function parseModes(value: string): AnswerMode[] {
  return value.split(',').map((m) => parseMode(m.trim()));
}

function parseK(value: string): number {
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1 || k > 20) throw new InvalidArgumentError('k must be an integer from 1 to 20');
  return k;
}

function engineOptions(globals: GlobalOptions, dataDir?: string): EngineOptions {
  const model = globals.model ?? process.env.PARAMKB_MODEL;
  const profile = globals.profile ?? process.env.PARAMKB_PROFILE;
  return {
    dataDir: resolve(dataDir ?? globals.data ?? defaultDataDir()),
    modelPath: model ? resolve(model) : undefined,
    profilePath: profile ? resolve(profile) : undefined,
  };
}

/** The model the knowledge base last opened, if any. */
function lastModelPath(dataDir: string): string | undefined {
  const db = openDatabase(databasePath(dataDir));
  try {
    return new SettingsStore(db, dataDir).getValue('modelPath') ?? undefined;
  } finally {
    db.close();
  }
}

/** Opens the engine, runs `fn`, and always closes it. A model named explicitly must load. */
async function withEngine<T>(options: EngineOptions, needsModel: boolean, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(options);
  try {
    if (needsModel) engine.requireRuntime();
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

interface EncodingFlags { lr?: number; epochs?: number; rank?: number; alpha?: number; threads?: number; reencode?: boolean; warmup?: number; adapterType?: AdapterTensorType }

function parseAdapterType(value: string): AdapterTensorType {
  if (!(ADAPTER_TENSOR_TYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`Use one of ${ADAPTER_TENSOR_TYPES.join(', ')}.`);
  return value as AdapterTensorType;
}

/** The hyperparameter flags shared by `encode` and `eval --encode`. */
function addEncodingFlags(command: Command): Command {
  return command
    .option('--lr <lr>', 'learning rate of new adapters (default: settings, 2e-3)', Number.parseFloat)
    .option('--epochs <n>', 'training epochs (default: settings, 3)', (v) => Number.parseInt(v, 10))
    .option('--rank <r>', 'LoRA rank (default: settings, 2)', (v) => Number.parseInt(v, 10))
    .option('--alpha <a>', 'LoRA alpha (default: settings, 32)', Number.parseFloat)
    .option('--adapter-type <type>', `tensor types of new adapter files: ${ADAPTER_TENSOR_TYPES.join(', ')} (default: q3_k)`, parseAdapterType)
    .option('--threads <n>', 'CPU threads (default: all cores)', (v) => Number.parseInt(v, 10))
    .option('--reencode', 'delete the existing adapters of this model first (augmentations are kept)')
    .option('--warmup <n>', 'first train a warm-up init on the QA pairs of n passages', (v) => Number.parseInt(v, 10));
}

/**
 * Encodes the passages that have no adapter yet (all of them, one document's, or a given list),
 * with a progress bar.
 */
async function encodePassages(dataDir: string, modelPath: string, profilePath: string | undefined, flags: EncodingFlags, select: { documentId?: number; passageIds?: number[] } = {}): Promise<string> {
  const { documentId } = select;
  const config: Partial<EncodingConfig> = {};
  if (flags.lr !== undefined) config.lr = flags.lr;
  if (flags.epochs !== undefined) config.epochs = flags.epochs;
  if (flags.rank !== undefined) config.rank = flags.rank;
  if (flags.alpha !== undefined) config.alpha = flags.alpha;
  if (flags.adapterType !== undefined) config.outType = flags.adapterType;
  // Before the model loads and before anything is queued: without the trainer no job could run.
  const availability = trainerAvailability();
  if (!availability.available) throw new EncodingUnavailableError(availability.reason);
  const session = await openEncodingSession({ dataDir, modelPath, profilePath, threads: flags.threads, config });
  try {
    const baseModel = session.runtime.fingerprint;
    if (flags.reencode) session.encoder.adapters.deleteAll(baseModel);
    const passages = select.passageIds?.map((id) => ({ id })) ?? (documentId === undefined
      ? session.db.prepare('SELECT id FROM passages ORDER BY id').all()
      : session.db.prepare('SELECT id FROM passages WHERE document_id = ? ORDER BY position').all(documentId));
    if (passages.length === 0) throw new ParamKbError('not-found', documentId === undefined ? 'The knowledge base has no passages; import documents first.' : `Document ${documentId} has no passages (see paramkb status).`);
    let warmup = '';
    if (flags.warmup) {
      const started = performance.now();
      await session.encoder.trainWarmup(flags.warmup);
      warmup = ` after a warm-up on ${flags.warmup} passages (${((performance.now() - started) / 1000).toFixed(1)} s)`;
    }
    const ids = (passages as { id: number }[]).map((r) => r.id);
    session.jobs.enqueue(ids, baseModel);
    const queued = session.db.prepare("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND base_model = ? AND passage_id IN (SELECT value FROM json_each(?))").pluck();
    const bar = progressBar('Encoding');
    bar.start(queued.get(baseModel, JSON.stringify(ids)) as number, 0);
    let augment = 0;
    let train = 0;
    const encoded = await session.encoder.runQueue({ among: ids, onEncoded: (e) => { augment += e.augmentSeconds; train += e.trainSeconds; bar.increment(); } });
    bar.stop();
    const status = session.jobs.status(baseModel);
    return `Encoded ${encoded} passages${warmup} (augmentation ${augment.toFixed(1)} s, training ${train.toFixed(1)} s); ${status.failed} failed, ${queued.get(baseModel, JSON.stringify(ids)) as number} still queued${status.paused ? ' (paused)' : ''}.`;
  } finally {
    await session.close();
  }
}

function progressBar(label: string): SingleBar {
  return new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
  });
}

function printEvalTable(reports: EvalReport[]): void {
  const types = [...new Set(reports.flatMap((r) => Object.keys(r.byType)))];
  const cell = (s: { f1: number; em: number } | undefined) => (s ? `${s.f1.toFixed(3)} / ${s.em.toFixed(3)}` : '-');
  const lines = [
    `| mode | all (F1 / EM) | ${types.map((t) => `${t} (${reports[0]?.byType[t]?.n ?? 0})`).join(' | ')} | seconds |`,
    `| --- | --- | ${types.map(() => '---').join(' | ')} | --- |`,
    ...reports.map((r) => `| ${r.mode} | ${cell(r.overall)} | ${types.map((t) => cell(r.byType[t])).join(' | ')} | ${r.seconds.toFixed(1)} |`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}

export function buildCli(): Command {
  const program = new Command('paramkb')
    .description('ParamKB: an offline knowledge base with Parametric RAG.')
    .option('--data <dir>', 'knowledge base folder (env PARAMKB_DATA)')
    .option('--model <gguf>', 'GGUF model file (env PARAMKB_MODEL; default: the last model opened)')
    .option('--profile <json>', 'prompt profile (env PARAMKB_PROFILE; default: profile.json beside the model)')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  program.command('import')
    .description('import files and folders (.txt, .md, .html, .pdf, .docx)')
    .argument('<paths...>')
    .action(async (paths: string[]) => {
      await withEngine(engineOptions(program.opts()), false, async (engine) => {
        const bar = progressBar('Importing');
        let started = false;
        const report = await engine.importer.importPaths(paths.map((p) => resolve(p)), {
          onProgress: ({ done, total }) => {
            if (total < 2) return;
            if (!started) { bar.start(total, 0); started = true; }
            bar.update(done);
          },
        });
        if (started) bar.stop();
        engine.afterImport(report);
        process.stdout.write(`Imported ${report.added} new and ${report.updated} changed documents (${report.passages} passages); ${report.unchanged} unchanged; ${report.failed.length} failed.\n`);
        for (const f of report.failed) process.stdout.write(`  failed: ${f.path}: ${f.reason}\n`);
        if (report.failed.length > 0 && report.added + report.updated + report.unchanged === 0) process.exitCode = 1;
      });
    });

  program.command('ask')
    .description('answer a question from the knowledge base')
    .argument('<question>')
    .addOption(new Option('--mode <mode>', `answer mode: ${ANSWER_MODES.join(', ')} (default: the knowledge base's default mode, combine unless changed in Settings)`).argParser(parseMode))
    .addOption(new Option('--k <k>', 'passages retrieved (default: the knowledge base\'s, 3 unless changed in Settings)').argParser(parseK))
    .option('--json', 'print the answer and its sources as JSON')
    .action(async (question: string, opts: { mode?: AnswerMode; k?: number; json?: boolean }) => {
      await withEngine(engineOptions(program.opts()), true, async (engine) => {
        const settings = engine.settings.get();
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.once('SIGINT', onSigint);
        try {
          const result = await engine.answerOnce({
            question, mode: opts.mode ?? settings.defaultMode, k: opts.k ?? settings.topK, signal: controller.signal, maxTokens: 256,
            onText: opts.json ? undefined : (text) => process.stdout.write(text),
          });
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ answer: result.answer, text: result.text, sources: result.sources, candidates: result.candidates, timings: result.generation.timings }, null, 2)}\n`);
            return;
          }
          process.stdout.write('\n');
          const candidates = result.candidates;
          if (candidates && candidates.passages.logProb !== null) {
            const other = candidates.kept === 'passages' ? 'adapters' : 'passages';
            process.stdout.write(`\n(Combine kept the ${candidates.kept}' answer; the ${other}' answer was "${candidates[other].answer}".)\n`);
          }
          if (result.sources.length > 0) {
            process.stdout.write('\nSources:\n');
            result.sources.forEach((s, i) => process.stdout.write(`  [${i + 1}] ${s.documentTitle} (${s.usedAs}, score ${s.score.toFixed(2)}): ${s.text.slice(0, 100)}${s.text.length > 100 ? '…' : ''}\n`));
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
      });
    });

  program.command('status')
    .description('show the knowledge base, model and encoding queue')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withEngine(engineOptions(program.opts()), false, async (engine) => {
        const counts = engine.documents.counts();
        const model = await engine.getModel();
        const queue = await engine.getEncodingQueue();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ dataDir: engine.dataDir, ...counts, model, queue }, null, 2)}\n`);
          return;
        }
        process.stdout.write([
          `Knowledge base: ${engine.dataDir}`,
          `Documents: ${counts.documents}, passages: ${counts.passages}`,
          `Model: ${model.loaded ? `${model.name} (${model.architecture}, ${model.gpu ? `GPU ${model.gpu}` : 'CPU'})` : model.error ?? 'none (use --model or PARAMKB_MODEL)'}`,
          queue.availability.available
            ? `Encoding: ${queue.done} done, ${queue.queued} queued, ${queue.running} running, ${queue.failed} failed${queue.paused ? ' (paused)' : ''}`
            : `Encoding: unavailable on this computer (answers use passages in context). ${queue.availability.reason}`,
        ].join('\n') + '\n');
      });
    });

  addEncodingFlags(program.command('encode')
    .description('turn passages into LoRA adapters (parametric encoding), in the foreground')
    .option('--all', 'queue every passage without an adapter (default when no --doc)')
    .option('--doc <id>', 'queue the passages of one document', (v) => Number.parseInt(v, 10)))
    .action(async (opts: EncodingFlags & { all?: boolean; doc?: number }) => {
      const options = engineOptions(program.opts());
      const modelPath = options.modelPath ?? lastModelPath(options.dataDir);
      if (!modelPath) throw new ParamKbError('no-model', 'No model to encode with: pass --model or set PARAMKB_MODEL.');
      process.stdout.write(`${await encodePassages(options.dataDir, modelPath, options.profilePath, opts, { documentId: opts.doc })}\n`);
    });

  program.command('convert-adapters')
    .description("rewrite the model's adapters with other tensor types, without training again (q3_k: 11% of f32's size)")
    .argument('<type>', ADAPTER_TENSOR_TYPES.join(' | '), parseAdapterType)
    .action(async (type: AdapterTensorType) => {
      const options = engineOptions(program.opts());
      const modelPath = options.modelPath ?? lastModelPath(options.dataDir);
      if (!modelPath) throw new ParamKbError('no-model', 'No model whose adapters to convert: pass --model or set PARAMKB_MODEL.');
      await withEngine(options, false, async (engine) => {
        const baseModel = modelFingerprint(modelPath);
        const bar = progressBar('Converting');
        bar.start(engine.adapters.stats(baseModel).count, 0);
        const result = await engine.adapters.convertAll(baseModel, type, (done) => bar.update(done));
        bar.stop();
        process.stdout.write(`Converted ${result.count} adapters to ${type}: ${formatBytes(result.bytesBefore)} before, ${formatBytes(result.bytesAfter)} after.\n`);
      });
    });

  program.command('jobs')
    .description('list the encoding jobs')
    .option('--limit <n>', 'rows to show (default 20)', (v) => Number.parseInt(v, 10), 20)
    .action(async (opts: { limit: number }) => {
      await withEngine(engineOptions(program.opts()), false, async (engine) => {
        const rows = engine.db.prepare(`
          SELECT j.id, j.passage_id, d.title, j.state, j.attempts, j.progress, j.step, j.error FROM jobs j
          LEFT JOIN passages p ON p.id = j.passage_id LEFT JOIN documents d ON d.id = p.document_id
          ORDER BY CASE j.state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 WHEN 'failed' THEN 2 ELSE 3 END, j.priority DESC, j.id DESC LIMIT ?`).all(opts.limit) as
          { id: number; passage_id: number; title: string | null; state: string; attempts: number; progress: number; step: string | null; error: string | null }[];
        const queue = await engine.getEncodingQueue();
        process.stdout.write(`${queue.done} done, ${queue.running} running, ${queue.queued} queued, ${queue.failed} failed${queue.paused ? ' (paused)' : ''}\n`);
        for (const r of rows) {
          process.stdout.write(`#${r.id} passage ${r.passage_id} (${r.title ?? 'deleted'}): ${r.state}${r.state === 'running' ? ` ${Math.round(r.progress * 100)}% ${r.step ?? ''}` : ''}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}${r.error ? ` — ${r.error}` : ''}\n`);
        }
      });
    });

  addEncodingFlags(program.command('eval')
    .description('score answers on a JSONL question set (EM, F1, precision, recall per type)')
    .requiredOption('--docs <jsonl>', 'documents: {id, title, text} per line')
    .requiredOption('--questions <jsonl>', 'questions: {id, question, answers, type} per line')
    .addOption(new Option('--mode <modes>', 'one mode or a comma-separated list').argParser(parseModes).default(['context']))
    .addOption(new Option('--k <k>', 'passages retrieved').argParser(parseK).default(3))
    .option('--limit <n>', 'only the first n questions', (v) => Number.parseInt(v, 10))
    .option('--adapter-scale <s>', 'scale of each applied adapter (default 1)', Number.parseFloat)
    .option('--relevance-exponent <e>', `adapters scaled by (BM25 score / best score)^e; 0: equal scales as in the paper (default ${DEFAULT_RELEVANCE_EXPONENT})`, Number.parseFloat)
    .option('--out <file>', 'write the JSON report here (default: stdout)')
    .option('--encode', 'first encode the passages the questions retrieve into adapters (for parametric, combine, auto)'))
    .action(async (opts: EncodingFlags & { docs: string; questions: string; mode: AnswerMode[]; k: number; limit?: number; out?: string; encode?: boolean; adapterScale?: number; relevanceExponent?: number }) => {
      const globals = program.opts<GlobalOptions>();
      const documents = readEvalDocuments(resolve(opts.docs));
      let questions = readEvalQuestions(resolve(opts.questions));
      if (opts.limit && opts.limit > 0) questions = questions.slice(0, opts.limit);
      // Without --data the corpus goes into a throwaway knowledge base, not the user's.
      const tempDir = globals.data || process.env.PARAMKB_DATA ? null : mkdtempSync(join(tmpdir(), 'paramkb-eval-'));
      try {
        const options = engineOptions(globals, tempDir ?? undefined);
        const reports = await withEngine(options, true, async (engine) => {
          engine.importer.importRecords(documents);
          if (opts.encode) {
            // An answer applies only its top-k passages' adapters, so encoding the passages the
            // questions retrieve gives the same scores as encoding the whole corpus.
            const needed = [...new Set(questions.flatMap((q) => engine.retriever.search(q.question, opts.k).map((h) => h.passageId)))];
            process.stderr.write(`${await encodePassages(options.dataDir, engine.loadedModelPath()!, options.profilePath, opts, { passageIds: needed })}\n`);
          }
          const out: EvalReport[] = [];
          for (const mode of opts.mode) {
            const bar = progressBar(`eval ${mode}`);
            bar.start(questions.length, 0);
            out.push(await evaluate(engine, questions, { mode, k: opts.k, adapterScale: opts.adapterScale, relevanceExponent: opts.relevanceExponent, onProgress: (done) => bar.update(done) }));
            bar.stop();
          }
          return out;
        });
        const json = JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2);
        if (opts.out) writeFileSync(resolve(opts.out), `${json}\n`);
        else process.stdout.write(`${json}\n`);
        printEvalTable(reports);
      } finally {
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      }
    });

  program.command('serve')
    .description('serve the app to a local browser (127.0.0.1, with a random token)')
    .option('--port <port>', 'TCP port (default: a free one)', (v) => Number.parseInt(v, 10))
    .action(async (opts: { port?: number }) => {
      const { runServe } = await import('./serve.js');
      const options = engineOptions(program.opts());
      const handle = await runServe({ dataDir: options.dataDir, modelPath: options.modelPath, port: opts.port });
      process.stdout.write(`ParamKB is running at ${handle.url}\nPress Ctrl+C to stop.\n`);
      const stop = () => { void handle.close().then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    const e = error as Error & { code?: string; expected?: boolean };
    process.stderr.write(`paramkb: ${e.message}\n`);
    if (process.env.PARAMKB_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = e.expected ? 1 : 2;
  }
}
