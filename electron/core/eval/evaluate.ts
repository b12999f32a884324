// Question-answering evaluation (DESIGN §5): imports a JSONL corpus, answers a JSONL question
// set in one mode, and scores EM / F1 / precision / recall overall and per question type.
import { readFileSync } from 'node:fs';
import type { AnswerMode, CombineCandidates } from '../../shared/types.js';
import { ParamKbError } from '../../shared/errors.js';
import type { Engine } from '../engine.js';
import { DEFAULT_RELEVANCE_EXPONENT } from '../answer/answerer.js';
import { scoreAnswer, type AnswerScore } from './metrics.js';

export interface EvalDocument { id: string; title: string; text: string }
export interface EvalQuestion { id: string; question: string; answers: string[]; type: string }

export interface EvalPrediction extends AnswerScore {
  id: string;
  type: string;
  question: string;
  answers: string[];
  prediction: string;
  generation: string;
  retrieved: string[];
  usedAs: string[];
  /** Combine: both answers and which was kept. */
  candidates?: CombineCandidates;
}

export interface ScoreSummary extends AnswerScore { n: number }

export interface EvalReport {
  mode: AnswerMode;
  k: number;
  adapterScale: number;
  relevanceExponent: number;
  model: string | null;
  profile: string;
  overall: ScoreSummary;
  byType: Record<string, ScoreSummary>;
  seconds: number;
  predictions: EvalPrediction[];
}

function readJsonl<T>(path: string, what: string, check: (v: Record<string, unknown>) => T): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ParamKbError('eval-input', `Cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
  return text.split('\n').filter((l) => l.trim()).map((line, i) => {
    let value: unknown;
    try { value = JSON.parse(line); } catch { throw new ParamKbError('eval-input', `${path}:${i + 1} is not valid JSON.`); }
    if (typeof value !== 'object' || value === null) throw new ParamKbError('eval-input', `${path}:${i + 1} is not a JSON object.`);
    try { return check(value as Record<string, unknown>); } catch (error) { throw new ParamKbError('eval-input', `${path}:${i + 1}: ${(error as Error).message}`); }
  });
}

const asString = (v: unknown, key: string): string => {
  if (typeof v !== 'string') throw new Error(`"${key}" must be a string`);
  return v;
};

export function readEvalDocuments(path: string): EvalDocument[] {
  return readJsonl(path, 'documents', (o) => ({ id: asString(o.id, 'id'), title: typeof o.title === 'string' ? o.title : '', text: asString(o.text, 'text') }));
}

export function readEvalQuestions(path: string): EvalQuestion[] {
  return readJsonl(path, 'questions', (o) => {
    const answers = Array.isArray(o.answers) ? o.answers.map((a) => asString(a, 'answers[]')) : [asString(o.answer, 'answer')];
    return { id: typeof o.id === 'string' ? o.id : String(o.id ?? ''), question: asString(o.question, 'question'), answers, type: typeof o.type === 'string' ? o.type : 'all' };
  });
}

export function summarize(predictions: AnswerScore[]): ScoreSummary {
  const n = predictions.length;
  const mean = (key: keyof AnswerScore) => (n ? predictions.reduce((s, p) => s + p[key], 0) / n : 0);
  return { n, em: mean('em'), f1: mean('f1'), precision: mean('precision'), recall: mean('recall') };
}

export interface EvaluateOptions {
  mode: AnswerMode;
  k: number;
  /** Scale of applied adapters (see AnswerOptions). Default: the answerer's. */
  adapterScale?: number;
  /** Damping of weaker passages' adapters (see adapterScales). Default DEFAULT_RELEVANCE_EXPONENT. */
  relevanceExponent?: number;
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Answers every question with the engine's model and knowledge base, and scores the answers. */
export async function evaluate(engine: Engine, questions: EvalQuestion[], options: EvaluateOptions): Promise<EvalReport> {
  const runtime = engine.requireRuntime();
  const started = performance.now();
  const predictions: EvalPrediction[] = [];
  for (const q of questions) {
    const result = await engine.answerOnce({ question: q.question, mode: options.mode, k: options.k, maxTokens: options.maxTokens ?? 40, adapterScale: options.adapterScale, relevanceExponent: options.relevanceExponent });
    predictions.push({
      id: q.id, type: q.type, question: q.question, answers: q.answers, prediction: result.answer, generation: result.text,
      retrieved: result.sources.map((s) => s.documentTitle), usedAs: result.sources.map((s) => s.usedAs),
      ...(result.candidates ? { candidates: result.candidates } : {}),
      ...scoreAnswer(result.answer, q.answers),
    });
    options.onProgress?.(predictions.length, questions.length);
  }
  const byType: Record<string, ScoreSummary> = {};
  for (const type of [...new Set(predictions.map((p) => p.type))]) byType[type] = summarize(predictions.filter((p) => p.type === type));
  return {
    mode: options.mode,
    k: options.k,
    adapterScale: options.adapterScale ?? 1,
    relevanceExponent: options.relevanceExponent ?? DEFAULT_RELEVANCE_EXPONENT,
    model: runtime.modelPath,
    profile: runtime.profileSource,
    overall: summarize(predictions),
    byType,
    seconds: (performance.now() - started) / 1000,
    predictions,
  };
}
