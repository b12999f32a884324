import { describe, expect, it } from 'vitest';
import { parseQaPairs } from '../../electron/core/encoding/augmentation.js';
import { augmentingDetail } from '../../electron/core/encoding/passageEncoder.js';
import { adapterScales, planPassageUse } from '../../electron/core/answer/answerer.js';
import type { SearchHit } from '../../electron/shared/types.js';

describe('QA output parsing', () => {
  it('reads a clean JSON list', () => {
    const text = '[{"question": "Where was Zhexa born?", "answer": "Tostekeld", "full_answer": "Zhexa was born in Tostekeld."}, {"question": "Who employs Zhexa?", "answer": "Sandheex Holdings"}]';
    expect(parseQaPairs(text)).toEqual([
      { question: 'Where was Zhexa born?', answer: 'Tostekeld', full_answer: 'Zhexa was born in Tostekeld.' },
      { question: 'Who employs Zhexa?', answer: 'Sandheex Holdings' },
    ]);
  });

  it('finds the list inside prose and objects inside a broken list', () => {
    expect(parseQaPairs('Sure! Here they are:\n[{"question": "Q1?", "answer": "A1"}]\nHope this helps.')).toEqual([{ question: 'Q1?', answer: 'A1' }]);
    expect(parseQaPairs('[{"question": "Q1?", "answer": "A1"}, {"question": "Q2?", "answer": "A2"}, {"question": "Q3?", "ans')).toEqual([
      { question: 'Q1?', answer: 'A1' }, { question: 'Q2?', answer: 'A2' },
    ]);
  });

  it('reads Q:/A: lines, numbered or not, and skips answers that are questions', () => {
    const text = 'Q: Who directed 11 Harrowhouse?\nA: Aram Avakian\n\n2. Q: When was it released?\nA: 1974.\nQ3: What is it?\nA3: What is it?\nQ: Is this one left open?';
    expect(parseQaPairs(text)).toEqual([
      { question: 'Who directed 11 Harrowhouse?', answer: 'Aram Avakian' },
      { question: 'When was it released?', answer: '1974.' },
    ]);
    expect(parseQaPairs('Q: 1. What is the case?\nA: 2. What is the case?')).toEqual([]);
  });

  it('drops invalid, empty and duplicate pairs and never throws', () => {
    expect(parseQaPairs('[{"question": "", "answer": "x"}, {"question": "Q?"}, {"q": 1}, 5, null, {"question": "Q?", "answer": 1961}, {"question": "q?", "answer": "dup"}]')).toEqual([{ question: 'Q?', answer: '1961' }]);
    for (const junk of ['', '[', ']', '[}{]', '{{{{', 'null', '"[]"', '[1,2,3]', '\u0000']) expect(parseQaPairs(junk)).toEqual([]);
  });
});

describe('passage use per answer mode', () => {
  const hit = (passageId: number): SearchHit => ({ passageId, documentId: passageId, documentTitle: `d${passageId}`, position: 0, score: 1, snippet: '', text: `t${passageId}` });
  const hits = [hit(1), hit(2), hit(3)];
  const adapters = new Map([[1, '/a/1.gguf'], [3, '/a/3.gguf']]);
  const plan = (mode: Parameters<typeof planPassageUse>[0]) => planPassageUse(mode, hits, adapters).map((p) => `${p.hit.passageId}:${p.use}`);

  it('auto uses adapters where they exist and context for the rest', () => expect(plan('auto')).toEqual(['1:adapter', '2:context', '3:adapter']));
  it('parametric uses only adapters', () => expect(plan('parametric')).toEqual(['1:adapter', '3:adapter']));
  it('combine uses both where it can', () => expect(plan('combine')).toEqual(['1:both', '2:context', '3:both']));
  it('one-pass combine uses both where it can', () => expect(plan('one-pass')).toEqual(['1:both', '2:context', '3:both']));
  it('context uses only text', () => expect(plan('context')).toEqual(['1:context', '2:context', '3:context']));
  it('closed-book uses nothing', () => expect(plan('closed-book')).toEqual([]));
});

describe('adapter scales from retrieval scores', () => {
  it('keeps the best passage whole and damps the others by relative score', () => {
    const scales = adapterScales([10, 5, 2.5], 10, 1, 3);
    expect(scales[0]).toBe(1);
    expect(scales[1]).toBeCloseTo(0.125, 10);
    expect(scales[2]).toBeCloseTo(0.015625, 10);
  });
  it('exponent 0 is the paper: equal scales; the overall scale multiplies all', () => {
    expect(adapterScales([10, 5, 1], 10, 0.5, 0)).toEqual([0.5, 0.5, 0.5]);
  });
  it('measures against the best retrieved passage, even one without an adapter', () => {
    expect(adapterScales([5], 10, 1, 1)).toEqual([0.5]);
  });
  it('copes with zero or negative scores', () => {
    expect(adapterScales([0, 0], 0, 1, 3)).toEqual([1, 1]);
    expect(adapterScales([4, -1], 4, 1, 2)).toEqual([1, 0]);
    expect(adapterScales([], 0, 1, 3)).toEqual([]);
  });
});

describe('augmentation progress', () => {
  it('counts tokens against the first attempts\' budget, and says when the model tries again instead of overshooting', () => {
    expect(augmentingDetail(240, 1200, ' (4 passages together)')).toBe('240 of about 1200 tokens written (4 passages together)');
    expect(augmentingDetail(1200, 1200)).toBe('1200 of about 1200 tokens written');
    expect(augmentingDetail(4395, 1556, ' (4 passages together)')).toBe('4395 tokens written (4 passages together), trying again: the model\'s first output could not be used');
  });
});
