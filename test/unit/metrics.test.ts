import { describe, expect, it } from 'vitest';
import { extractAnswer, normalizeAnswer, scoreAnswer } from '../../electron/core/eval/metrics.js';
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
