// Distributed encoding throughput (issue #18, DESIGN §7): the first N passages of the world dev
// split are encoded end to end (augmentation and training) three ways in one run, on the same
// model and threads: locally (`paramkb encode`, the baseline), then with 1 and with 2
// `paramkb worker` processes over a private loopback redis-server (`encode --redis`). Reported
// per run: wall seconds from publishing to the last stored adapter, passages per hour, the
// workers' own seconds per passage, and the seconds the knowledge base spent storing results
// (what bounds a run with many fast workers; docs/teams.md projects N GPU workers from it).
//
// Usage: node dist/bench/teams.js [--model world|1b|<gguf>] [--docs <jsonl>] [--passages 8] [--threads 1] [--workers 1,2] [--concurrency 1]
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../electron/core/database/database.js';
import { DocumentStore } from '../electron/core/database/documentStore.js';
import { encodeOnWorkers } from '../electron/core/distributed/encodePublisher.js';
import { redisOptions } from '../electron/core/distributed/redisConnection.js';
import { openEncodingSession } from '../electron/core/encoding/encodingSession.js';
import { readEvalDocuments } from '../electron/core/eval/evaluate.js';
import { Importer } from '../electron/core/ingest/importer.js';
import { databasePath } from '../electron/core/paths.js';
import { startRedisServer } from '../test/support/redisServer.js';
import { arg, benchModelPath, mean, numberArg, repoRoot, WORLD_DEV } from './benchModel.js';

interface Run {
  setup: string;
  workers: number;
  passages: number;
  wallSeconds: number;
  passagesPerHour: number;
  /** The encoders' own seconds per passage (augmentation + training), as they logged them. */
  encoderSecondsPerPassage: number;
  /** Seconds the knowledge base spent checking and storing each result. */
  storeSecondsPerPassage: number | null;
  ratioToLocal: number;
}

/** Starts a worker process and resolves once it listens; its "done in X s" lines are collected. */
async function startWorker(modelPath: string, redisUrl: string, threads: number, concurrency: number, seconds: number[]): Promise<ChildProcess> {
  const args = ['--model', modelPath, 'worker', '--redis', redisUrl, '--threads', String(threads), '--concurrency', String(concurrency)];
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'paramkb.js'), ...args], {
    env: { ...process.env, PARAMKB_GPU: '0' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes(' queue paramkb-encode-')) resolve();
        const done = /: done in ([\d.]+) s/.exec(line);
        if (done) seconds.push(Number(done[1]));
      }
    });
  });
  return child;
}

async function main(): Promise<void> {
  const modelChoice = arg('model', 'world');
  const passageCount = numberArg('passages', 8);
  const threads = numberArg('threads', 1);
  const workerCounts = arg('workers', '1,2').split(',').map(Number);
  const concurrency = numberArg('concurrency', 1);
  const modelPath = await benchModelPath(modelChoice);
  const root = mkdtempSync(join(tmpdir(), 'paramkb-bench-teams-'));
  const redis = await startRedisServer();
  try {
    const template = join(root, 'template');
    const db = openDatabase(databasePath(template));
    new Importer(db, new DocumentStore(db, () => null)).importRecords(readEvalDocuments(arg('docs', join(WORLD_DEV, 'docs.jsonl'))).slice(0, passageCount));
    db.close();
    const runs: Run[] = [];

    // Baseline: the local encoder on the same passages, model and threads.
    const localDir = join(root, 'local');
    cpSync(template, localDir, { recursive: true });
    const session = await openEncodingSession({ dataDir: localDir, modelPath, threads, useGpu: false });
    const encoderSeconds: number[] = [];
    let started = performance.now();
    session.jobs.enqueue(new DocumentStore(session.db, () => null).allPassageIds(), session.runtime.fingerprint);
    const encoded = await session.encoder.runQueue({ onEncoded: (e) => encoderSeconds.push(e.augmentSeconds + e.trainSeconds) });
    const localWall = (performance.now() - started) / 1000;
    await session.close();
    runs.push({
      setup: 'local encode', workers: 0, passages: encoded, wallSeconds: localWall, passagesPerHour: (3600 * encoded) / localWall,
      encoderSecondsPerPassage: mean(encoderSeconds), storeSecondsPerPassage: null, ratioToLocal: 1,
    });

    for (const count of workerCounts) {
      const dataDir = join(root, `workers-${count}`);
      cpSync(template, dataDir, { recursive: true });
      const seconds: number[] = [];
      const workers: ChildProcess[] = [];
      try {
        for (let i = 0; i < count; i++) workers.push(await startWorker(modelPath, redis.url, threads, concurrency, seconds));
        started = performance.now();
        const report = await encodeOnWorkers({ dataDir, modelPath, connection: redisOptions({ url: redis.url }), pollMs: 200 });
        const wall = (performance.now() - started) / 1000;
        runs.push({
          setup: `encode --redis, ${count} worker${count === 1 ? '' : 's'}${concurrency > 1 ? `, concurrency ${concurrency}` : ''}`, workers: count, passages: report.stored, wallSeconds: wall,
          passagesPerHour: (3600 * report.stored) / wall, encoderSecondsPerPassage: mean(seconds),
          storeSecondsPerPassage: report.storeSeconds / Math.max(1, report.stored), ratioToLocal: ((3600 * report.stored) / wall) / runs[0]!.passagesPerHour,
        });
      } finally {
        await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('exit', resolve); w.kill('SIGTERM'); })));
      }
    }

    const result = { model: { choice: modelChoice, file: basename(modelPath) }, threadsPerProcess: threads, concurrency, passages: passageCount, runs };
    const outDir = join(repoRoot, 'bench', 'out');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, `teams-${modelChoice.replace(/[^a-z0-9]+/gi, '_')}.json`), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
    console.log(`\n${result.model.file}, ${threads} thread${threads === 1 ? '' : 's'} per process, ${passageCount} passages, augmentation and training`);
    console.log('| setup | wall s | passages/hour | ratio to local | encoder s/passage | store s/passage |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const r of runs) {
      console.log(`| ${r.setup} | ${r.wallSeconds.toFixed(1)} | ${r.passagesPerHour.toFixed(0)} | ${r.ratioToLocal.toFixed(2)} | ${r.encoderSecondsPerPassage.toFixed(2)} | ${r.storeSecondsPerPassage === null ? '-' : r.storeSecondsPerPassage.toFixed(4)} |`);
    }
  } finally {
    await redis.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
