import { describe, expect, it } from 'vitest';
import { extractAnswer, normalizeAnswer, scoreAnswer } from '../../electron/core/eval/metrics.js';

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
