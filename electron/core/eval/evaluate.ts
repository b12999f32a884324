// Question-answering evaluation (DESIGN §5): imports a JSONL corpus, answers a JSONL question
// set in one mode, and scores EM / F1 / precision / recall overall and per question type.
import { readFileSync } from 'node:fs';
import type { AnswerMode, CombineCandidates, HopPolicy, RetrievalMethod } from '../../shared/types.js';
import { ParamKbError } from '../../shared/errors.js';
import type { Engine } from '../engine.js';
import { DEFAULT_RELEVANCE_EXPONENT } from '../answer/answerer.js';
import { pairedBootstrap, scoreAnswer, type AnswerScore, type PairedDifference } from './metrics.js';
import type { RetrieveOptions } from '../retrieval/retriever.js';

export interface EvalDocument { id: string; title: string; text: string }
export interface EvalQuestion {
  id: string;
  question: string;
  answers: string[];
  type: string;
  /** Titles of the documents the answer needs (HotpotQA's `supporting_titles`), for retrieval recall. */
  supportingTitles?: string[];
  /** Ids of the documents the answer needs (the world split's `support`), resolved to titles by withSupportingTitles. */
  supportIds?: string[];
}

export interface EvalPrediction extends AnswerScore {
  id: string;
  type: string;
  question: string;
  answers: string[];
  prediction: string;
  generation: string;
  retrieved: string[];
  usedAs: string[];
  /** The name the second hop followed, when there was a hop. */
  bridge?: string;
  /** Share of the supporting documents among the retrieved passages' documents; absent without supporting titles or retrieval. */
  supportRecall?: number;
  /** Combine: both answers and which was kept. */
  candidates?: CombineCandidates;
}

export interface ScoreSummary extends AnswerScore {
  n: number;
  /** Mean retrieval recall of the supporting documents at k, over the questions that have them. */
  supportRecall?: number;
  /** Share of those questions whose supporting documents were all retrieved. */
  supportAllFound?: number;
}

export interface EvalReport {
  mode: AnswerMode;
  k: number;
  /** The retrieval method that ran and the hop policy. */
  retrieval: RetrievalMethod;
  hop: HopPolicy;
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
    const strings = (v: unknown, key: string) => (Array.isArray(v) ? v.map((x) => asString(x, `${key}[]`)) : undefined);
    return {
      id: typeof o.id === 'string' ? o.id : String(o.id ?? ''), question: asString(o.question, 'question'), answers, type: typeof o.type === 'string' ? o.type : 'all',
      ...(Array.isArray(o.supporting_titles) ? { supportingTitles: strings(o.supporting_titles, 'supporting_titles') } : {}),
      ...(Array.isArray(o.support) ? { supportIds: strings(o.support, 'support') } : {}),
    };
  });
}

/** Questions whose supporting documents are given by id get their titles from the corpus. */
export function withSupportingTitles(questions: EvalQuestion[], documents: EvalDocument[]): EvalQuestion[] {
  const titleOf = new Map(documents.map((d) => [d.id, d.title]));
  return questions.map((q) => (q.supportingTitles || !q.supportIds ? q : { ...q, supportingTitles: q.supportIds.map((id) => titleOf.get(id)).filter((t): t is string => t !== undefined) }));
}

/** Share of `supporting` titles among `retrieved` titles. */
export function supportRecall(supporting: string[], retrieved: string[]): number {
  const wanted = new Set(supporting);
  if (wanted.size === 0) return 0;
  const found = new Set(retrieved.filter((t) => wanted.has(t)));
  return found.size / wanted.size;
}

export function summarize(predictions: (AnswerScore & { supportRecall?: number })[]): ScoreSummary {
  const n = predictions.length;
  const mean = (key: keyof AnswerScore) => (n ? predictions.reduce((s, p) => s + p[key], 0) / n : 0);
  const recalls = predictions.map((p) => p.supportRecall).filter((r): r is number => r !== undefined);
  return {
    n, em: mean('em'), f1: mean('f1'), precision: mean('precision'), recall: mean('recall'),
    ...(recalls.length ? { supportRecall: recalls.reduce((a, b) => a + b, 0) / recalls.length, supportAllFound: recalls.filter((r) => r === 1).length / recalls.length } : {}),
  };
}

export interface EvaluateOptions {
  mode: AnswerMode;
  k: number;
  /** Scale of applied adapters (see AnswerOptions). Default: the answerer's. */
  adapterScale?: number;
  /** Damping of weaker passages' adapters (see adapterScales). Default DEFAULT_RELEVANCE_EXPONENT. */
  relevanceExponent?: number;
  maxTokens?: number;
  /** Default: the retriever's (hybrid with the 'auto' hop; BM25 without an embedding model). */
  retrieval?: RetrieveOptions;
  onProgress?: (done: number, total: number) => void;
}

/** Answers every question with the engine's model and knowledge base, and scores the answers. */
export async function evaluate(engine: Engine, questions: EvalQuestion[], options: EvaluateOptions): Promise<EvalReport> {
  const runtime = engine.requireRuntime();
  const started = performance.now();
  const predictions: EvalPrediction[] = [];
  let method: RetrievalMethod = options.retrieval?.method ?? 'bm25';
  for (const q of questions) {
    const result = await engine.answerOnce({ question: q.question, mode: options.mode, k: options.k, maxTokens: options.maxTokens ?? 40, adapterScale: options.adapterScale, relevanceExponent: options.relevanceExponent, retrieval: options.retrieval });
    const retrieved = result.sources.map((s) => s.documentTitle);
    if (options.mode !== 'closed-book') method = result.retrieval.method;
    predictions.push({
      id: q.id, type: q.type, question: q.question, answers: q.answers, prediction: result.answer, generation: result.text,
      retrieved, usedAs: result.sources.map((s) => s.usedAs),
      ...(result.retrieval.bridge ? { bridge: result.retrieval.bridge } : {}),
      ...(q.supportingTitles && options.mode !== 'closed-book' ? { supportRecall: supportRecall(q.supportingTitles, retrieved) } : {}),
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
    retrieval: method,
    hop: options.retrieval?.hop ?? 'auto',
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

/** The mode pairs whose F1 differences an evaluation reports when it ran both (DESIGN §5). */
export const COMPARED_MODES: readonly [AnswerMode, AnswerMode][] = [
  ['closed-book', 'parametric'], ['context', 'combine'], ['context', 'one-pass'], ['one-pass', 'combine'],
];

/** F1 of report b minus report a over the questions both answered, with a paired-bootstrap interval, overall and per type. */
export function compareReports(a: EvalReport, b: EvalReport): { overall: PairedDifference; byType: Record<string, PairedDifference> } {
  const inB = new Map(b.predictions.map((p) => [p.id, p]));
  const pairs = a.predictions.filter((p) => inB.has(p.id)).map((p) => ({ type: p.type, a: p.f1, b: inB.get(p.id)!.f1 }));
  const diff = (list: typeof pairs) => pairedBootstrap(list.map((p) => p.a), list.map((p) => p.b));
  const byType: Record<string, PairedDifference> = {};
  for (const type of [...new Set(pairs.map((p) => p.type))]) byType[type] = diff(pairs.filter((p) => p.type === type));
  return { overall: diff(pairs), byType };
}

export interface RetrievalReport {
  k: number;
  retrieval: RetrievalMethod;
  hop: HopPolicy;
  /** Recall of the supporting documents at k, overall and per question type. */
  overall: { n: number; supportRecall: number; supportAllFound: number; hopped: number };
  byType: Record<string, { n: number; supportRecall: number; supportAllFound: number; hopped: number }>;
  /** Mean retrieval time per question, ms. */
  meanMs: number;
  questions: { id: string; type: string; retrieved: string[]; supportRecall: number; bridge?: string }[];
}

/** Retrieval alone (no answers, no chat model): recall of each question's supporting documents at k. */
export async function evaluateRetrieval(engine: Engine, questions: EvalQuestion[], options: { k: number; retrieval?: RetrieveOptions }): Promise<RetrievalReport> {
  const rows: RetrievalReport['questions'] = [];
  let method: RetrievalMethod = 'bm25';
  let ms = 0;
  for (const q of questions) {
    if (!q.supportingTitles) continue;
    const started = performance.now();
    const result = await engine.retriever.retrieve(q.question, options.k, options.retrieval);
    ms += performance.now() - started;
    method = result.method;
    const retrieved = result.hits.map((h) => h.documentTitle);
    rows.push({ id: q.id, type: q.type, retrieved, supportRecall: supportRecall(q.supportingTitles, retrieved), ...(result.bridge ? { bridge: result.bridge } : {}) });
  }
  if (rows.length === 0) throw new ParamKbError('eval-input', 'No question has supporting documents (supporting_titles or support), so there is no recall to measure.');
  const sum = (list: typeof rows) => ({
    n: list.length,
    supportRecall: list.reduce((s, r) => s + r.supportRecall, 0) / list.length,
    supportAllFound: list.filter((r) => r.supportRecall === 1).length / list.length,
    hopped: list.filter((r) => r.bridge !== undefined).length / list.length,
  });
  const byType: RetrievalReport['byType'] = {};
  for (const type of [...new Set(rows.map((r) => r.type))]) byType[type] = sum(rows.filter((r) => r.type === type));
  return { k: options.k, retrieval: method, hop: options.retrieval?.hop ?? 'auto', overall: sum(rows), byType, meanMs: ms / rows.length, questions: rows };
}
