import { describe, expect, it } from 'vitest';
import { normalizeAnswer, pairedBootstrap, scoreAnswer } from '../../electron/core/eval/metrics.js';
import { extractAnswer } from '../../electron/core/llm/promptProfile.js';
import { summarize, supportRecall, withSupportingTitles } from '../../electron/core/eval/evaluate.js';

describe('SQuAD metrics', () => {
  it('normalizes case, punctuation, articles and whitespace', () => {
    expect(normalizeAnswer('  The  Royal Academy of Ninont! ')).toBe('royal academy of ninont');
    expect(normalizeAnswer("O'Neil, an author")).toBe('oneil author');
  });

  it('takes the text after "The answer is", without the final period', () => {
    expect(extractAnswer('The answer is 20 July 1989.')).toBe('20 July 1989');
    expect(extractAnswer('Thinking... the answer is Wiolmere.\nMore')).toBe('Wiolmere');
    expect(extractAnswer('Telisdale')).toBe('Telisdale');
    // Answers are prefilled with the prefix; a model that repeats it trails off after the answer.
    expect(extractAnswer('The answer is: Glee. The answer is')).toBe('Glee');
    expect(extractAnswer('The answer is St. Louis, Mo.')).toBe('St. Louis, Mo');
    expect(extractAnswer('The answer is: Dragon TV.')).toBe('Dragon TV');
  });

  it('scores exact match and token F1 against the best accepted answer', () => {
    expect(scoreAnswer('July 20, 1989', ['20 July 1989', 'July 20, 1989'])).toMatchObject({ em: 1, f1: 1 });
    const partial = scoreAnswer('Hullflu Institute', ['Hullflu Institute of Technology']);
    expect(partial.em).toBe(0);
    expect(partial.precision).toBe(1);
    expect(partial.recall).toBe(0.5);
    expect(partial.f1).toBeCloseTo(2 / 3, 10);
    expect(scoreAnswer('', ['x'])).toMatchObject({ em: 0, f1: 0 });
  });
});

describe('retrieval recall of supporting documents', () => {
  it('counts each supporting title once among the retrieved titles', () => {
    expect(supportRecall(['A', 'B'], ['A', 'C', 'A'])).toBe(0.5);
    expect(supportRecall(['A', 'B'], ['B', 'A'])).toBe(1);
    expect(supportRecall(['A'], [])).toBe(0);
  });

  it('resolves supporting ids to titles, keeps given titles, and summarizes recall', () => {
    const docs = [{ id: 'd1', title: 'Orla Venn', text: '' }, { id: 'd2', title: 'Tam Rook', text: '' }];
    const [byId, byTitle, none] = withSupportingTitles([
      { id: 'q1', question: '?', answers: ['x'], type: 'single', supportIds: ['d2', 'missing'] },
      { id: 'q2', question: '?', answers: ['x'], type: 'bridge', supportingTitles: ['Kept'], supportIds: ['d1'] },
      { id: 'q3', question: '?', answers: ['x'], type: 'single' },
    ], docs);
    expect(byId!.supportingTitles).toEqual(['Tam Rook']);
    expect(byTitle!.supportingTitles).toEqual(['Kept']);
    expect(none!.supportingTitles).toBeUndefined();
    const summary = summarize([
      { em: 1, f1: 1, precision: 1, recall: 1, supportRecall: 1 },
      { em: 0, f1: 0, precision: 0, recall: 0, supportRecall: 0.5 },
      { em: 0, f1: 0, precision: 0, recall: 0 },
    ]);
    expect(summary.supportRecall).toBe(0.75);
    expect(summary.supportAllFound).toBe(0.5);
    expect(summarize([{ em: 1, f1: 1, precision: 1, recall: 1 }]).supportRecall).toBeUndefined();
  });
});

describe('paired bootstrap', () => {
  it('centres on the mean difference and narrows with more questions', () => {
    const a = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const b = a.map((x, i) => (i % 10 === 1 ? 1 : x)); // b gains 40 of 400
    const d = pairedBootstrap(a, b, 2000, 7);
    expect(d.mean).toBeCloseTo(0.1, 10);
    expect(d.low).toBeGreaterThan(0.06);
    expect(d.high).toBeLessThan(0.14);
    expect(d.low).toBeLessThan(d.mean);
    const small = pairedBootstrap(a.slice(0, 40), b.slice(0, 40), 2000, 7);
    expect(small.high - small.low).toBeGreaterThan(d.high - d.low);
  });

  it('an interval around zero when nothing changes, and a seed that makes it reproducible', () => {
    const a = Array.from({ length: 100 }, (_, i) => (i * 7919) % 13 / 13);
    expect(pairedBootstrap(a, a.slice())).toEqual({ mean: 0, low: 0, high: 0, n: 100 });
    const b = a.map((x, i) => (i % 3 === 0 ? 1 - x : x));
    expect(pairedBootstrap(a, b, 500, 3)).toEqual(pairedBootstrap(a, b, 500, 3));
    expect(() => pairedBootstrap([1], [1, 2])).toThrow(/equal lengths/);
  });
});
