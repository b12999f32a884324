// What a worker accepts from Redis and what the publisher accepts back: every field checked,
// unknown fields refused, results bound to their job; and how the Redis connection is read.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ENCODE_JOB_FORMAT, encodeJobId, encodeQueueName, validateEncodeJobData, validateEncodeJobResult, type EncodeJobData,
} from '../../electron/core/distributed/encodeJobs.js';
import { redactedRedisUrl, redisOptions } from '../../electron/core/distributed/redisConnection.js';

const FINGERPRINT = '0123456789abcdef0123456789abcdef';

function job(): EncodeJobData {
  return {
    format: ENCODE_JOB_FORMAT,
    knowledgeBase: '6f1c2a43-5b7e-4c1d-9a8f-2e3d4c5b6a79',
    passageId: 12,
    text: 'Orla Venkatesh was born in Marrowgate.',
    augmentation: { rewrite: 'Marrowgate is where Orla Venkatesh was born.', qa: [{ question: 'Where was Orla born?', answer: 'Marrowgate', full_answer: 'She was born in Marrowgate.' }], warnings: [] },
    training: { rank: 2, alpha: 32, lr: 2e-3, epochs: 3, targets: ['ffn_gate', 'ffn_up', 'ffn_down'], loraLayers: 1, seed: 42, outType: 'q3_k', qaCount: 3, objective: 'next-token', trainingSet: 'paper', distillTopK: 16, distillWeight: 1 },
    model: { fingerprint: FINGERPRINT, name: 'Llama 3.2 1B Instruct', fileName: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf', sizeBytes: 807_694_464 },
    promptProfile: 'fedcba9876543210fedcba9876543210',
  };
}

function withField(path: string[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(job())) as Record<string, unknown>;
  let target = copy;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
  if (value === undefined) delete target[path.at(-1)!];
  else target[path.at(-1)!] = value;
  return copy;
}

describe('encoding jobs', () => {
  it('accepts a well-formed job and names its queue and id by content', () => {
    expect(validateEncodeJobData(job())).toEqual(job());
    expect(validateEncodeJobData({ ...job(), augmentation: null }).augmentation).toBeNull();
    const { loraLayers: _omitted, ...olderTraining } = job().training;  // a publisher from before the setting
    expect(validateEncodeJobData({ ...job(), training: olderTraining as never }).training.loraLayers).toBe(1);
    const { trainingSet: _set, ...beforeSets } = job().training;
    expect(validateEncodeJobData({ ...job(), training: beforeSets as never }).training.trainingSet).toBe('paper');
    expect(encodeQueueName(FINGERPRINT)).toBe(`paramkb-encode-${FINGERPRINT}`);
    expect(encodeJobId(job())).toBe(encodeJobId(job()));
    expect(encodeJobId(job())).not.toBe(encodeJobId({ ...job(), training: { ...job().training, epochs: 4 } }));
    expect(encodeJobId(job())).toMatch(/^pkb-[0-9a-f]{40}$/); // BullMQ refuses ids with ':' or that are integers
  });

  it.each([
    [['extra'], 'run me', /job\.extra is not a known field/],
    [['format'], 2, /job\.format is 2; this worker reads format 1/],
    [['passageId'], -1, /job\.passageId must be an integer/],
    [['passageId'], '12', /job\.passageId must be an integer/],
    [['text'], '', /job\.text must be a string of 1 to/],
    [['text'], 'x'.repeat(100_001), /job\.text must be a string/],
    [['knowledgeBase'], '../../etc', /job\.knowledgeBase must be a UUID/],
    [['augmentation', 'qa'], Array.from({ length: 21 }, () => ({ question: 'q', answer: 'a' })), /job\.augmentation\.qa must be a list of at most 20/],
    [['augmentation', 'qa', '0', 'command'], 'rm -rf /', /job\.augmentation\.qa\[0\]\.command is not a known field/],
    [['training', 'targets'], ['ffn_up', 'ffn_up'], /job\.training\.targets must name each matrix at most once/],
    [['training', 'targets'], ['lm_head'], /job\.training\.targets\[0\] must be one of/],
    [['training', 'init'], '/etc/passwd', /job\.training\.init is not a known field/],
    [['training', 'epochs'], 1e9, /job\.training\.epochs must be an integer from 1 to 50/],
    [['training', 'lr'], Number.NaN, /job\.training\.lr must be a number/],
    [['training', 'outType'], 'exe', /job\.training\.outType must be one of/],
    [['training', 'objective'], 'shell', /job\.training\.objective must be one of/],
    [['training', 'distillWeight'], 2, /job\.training\.distillWeight must be a number/],
    [['training', 'loraLayers'], 0, /job\.training\.loraLayers must be a number/],
    [['training', 'trainingSet'], 'all', /job\.training\.trainingSet must be "paper" or steps/],
    [['training', 'trainingSet'], 'P1,X2', /job\.training\.trainingSet must be "paper" or steps/],
    [['model', 'fingerprint'], 'ZZZ', /job\.model\.fingerprint must be 32 lowercase hex digits/],
    [['model', 'path'], '/models/x.gguf', /job\.model\.path is not a known field/],
    [['promptProfile'], undefined, /job\.promptProfile is missing/],
  ])('refuses %j = %j', (path, value, message) => {
    expect(() => validateEncodeJobData(withField(path as string[], value))).toThrow(message);
  });

  it('binds a result to its job and checks its adapter', () => {
    const adapter = Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60, 7)]);
    const result = {
      format: ENCODE_JOB_FORMAT, passageId: 12, modelFingerprint: FINGERPRINT, adapter: adapter.toString('base64'),
      sha256: createHash('sha256').update(adapter).digest('hex'), augmentation: job().augmentation, sequences: ['passage', 'rewrite', 'closed-book'],
      trainLoss: 1.5, augmentSeconds: 0, trainSeconds: 2.5, trainTokens: 900, worker: 'gpu-box:4242',
    };
    const expected = { passageId: 12, modelFingerprint: FINGERPRINT };
    expect(validateEncodeJobResult(result, expected).adapter.equals(adapter)).toBe(true);
    expect(() => validateEncodeJobResult({ ...result, passageId: 13 }, expected)).toThrow(/result\.passageId is 13, but the job was for passage 12/);
    expect(() => validateEncodeJobResult({ ...result, modelFingerprint: 'f'.repeat(32) }, expected)).toThrow(/not the model of the job/);
    expect(() => validateEncodeJobResult({ ...result, sha256: 'a'.repeat(64) }, expected)).toThrow(/does not match its sha256/);
    const notGguf = Buffer.alloc(64, 1);
    expect(() => validateEncodeJobResult({ ...result, adapter: notGguf.toString('base64'), sha256: createHash('sha256').update(notGguf).digest('hex') }, expected)).toThrow(/is not a GGUF file/);
    expect(() => validateEncodeJobResult({ ...result, sequences: ['shell'] }, expected)).toThrow(/result\.sequences\[0\] must be one of/);
  });
});

describe('Redis connection', () => {
  it('reads host, port, database, user and password, and waits for Redis instead of failing commands', () => {
    expect(redisOptions({ url: 'redis://team:s3cret@redis.example:6380/2' })).toMatchObject({
      host: 'redis.example', port: 6380, db: 2, username: 'team', password: 's3cret', maxRetriesPerRequest: null,
    });
    const plain = redisOptions({ url: 'redis://127.0.0.1' });
    expect(plain).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 });
    expect(plain.tls).toBeUndefined();
    expect(plain.password).toBeUndefined();
    expect(redisOptions({ url: 'redis://:inurl@h:1', password: 'fromfile' }).password).toBe('fromfile');
    expect(redactedRedisUrl('redis://team:s3cret@h:6379')).toBe('redis://team:***@h:6379');
  });

  it('turns TLS on with rediss:// or a CA file, and reads the certificate files', () => {
    expect(redisOptions({ url: 'rediss://redis.example:6380' }).tls).toEqual({ servername: 'redis.example' });
    const dir = mkdtempSync(join(tmpdir(), 'paramkb-tls-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), 'CA');
      writeFileSync(join(dir, 'cert.pem'), 'CERT');
      writeFileSync(join(dir, 'key.pem'), 'KEY');
      const tls = redisOptions({ url: 'redis://h:6380', tlsCaFile: join(dir, 'ca.pem'), tlsCertFile: join(dir, 'cert.pem'), tlsKeyFile: join(dir, 'key.pem') }).tls as Record<string, Buffer>;
      expect([tls.ca!.toString(), tls.cert!.toString(), tls.key!.toString()]).toEqual(['CA', 'CERT', 'KEY']);
      expect(() => redisOptions({ url: 'redis://h', tlsCertFile: join(dir, 'cert.pem') })).toThrow(/needs its key/);
      expect(() => redisOptions({ url: 'redis://h', tlsCaFile: join(dir, 'missing.pem') })).toThrow(/Cannot read the TLS CA file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a Redis URL', () => {
    expect(() => redisOptions({ url: 'http://h:6379' })).toThrow(/must start with redis:\/\/ or rediss:\/\//);
    expect(() => redisOptions({ url: 'h:6379' })).toThrow(/Redis URL/);
    expect(() => redisOptions({ url: 'redis://h/x' })).toThrow(/database must be a number/);
  });
});
