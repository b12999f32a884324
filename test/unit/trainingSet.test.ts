// Training sets: which steps an adapter trains on, and whether augmentation writes a rewrite for them.
import { describe, expect, it } from 'vitest';
import { writesRewrite } from '../../electron/core/encoding/passageEncoder.js';
import { isTrainingSet } from '../../electron/core/encoding/trainingSequences.js';

describe('training sets', () => {
  it('accepts the paper\'s set and lists of steps, nothing else', () => {
    for (const set of ['paper', 'P1', 'P1,C1,P2,C2,C3', 'R2,C9']) expect(isTrainingSet(set)).toBe(true);
    for (const set of ['', 'Paper', 'p1', 'P0', 'P10', 'P1,,C1', 'P1 ,C1', 'X1', 'P1,']) expect(isTrainingSet(set)).toBe(false);
  });

  it('writes a rewrite only for next-token sets that train on one', () => {
    expect(writesRewrite({ objective: 'next-token', trainingSet: 'paper' })).toBe(true);
    expect(writesRewrite({ objective: 'next-token', trainingSet: 'P1,R2,C3' })).toBe(true);
    expect(writesRewrite({ objective: 'next-token', trainingSet: 'P1,C1,P2,C2,C3' })).toBe(false);
    expect(writesRewrite({ objective: 'distill', trainingSet: 'paper' })).toBe(false);
  });
});
