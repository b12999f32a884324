import { describe, expect, it } from 'vitest';
import { splitIntoPassages } from '../../electron/core/ingest/passages.js';

const sentence = (i: number) => `Sentence number ${i} tells one small fact about the archive and its keepers.`; // 13 words

describe('passages', () => {
  it('keeps a short document as one passage', () => {
    const passages = splitIntoPassages('Orla was born in Marrowgate. She studied biology.');
    expect(passages).toEqual([{ position: 0, text: 'Orla was born in Marrowgate. She studied biology.', wordCount: 8 }]);
  });

  it('cuts long text into 100-200 word passages at sentence boundaries', () => {
    const text = Array.from({ length: 60 }, (_, i) => sentence(i)).join(' ');
    const passages = splitIntoPassages(text);
    expect(passages.length).toBeGreaterThan(3);
    for (const p of passages) {
      expect(p.wordCount).toBeLessThanOrEqual(200);
      expect(p.text.endsWith('.')).toBe(true);
    }
    for (const p of passages.slice(0, -1)) expect(p.wordCount).toBeGreaterThanOrEqual(100);
    expect(passages.map((p) => p.position)).toEqual(passages.map((_, i) => i));
    expect(passages.map((p) => p.text).join(' ')).toBe(text);
  });

  it('prefers paragraph breaks once a passage is long enough', () => {
    const para = (n: number, from: number) => Array.from({ length: n }, (_, i) => sentence(from + i)).join(' ');
    const passages = splitIntoPassages(`${para(9, 0)}\n\n${para(9, 100)}`);
    expect(passages).toHaveLength(2);
    expect(passages[1]!.text.startsWith('Sentence number 100 ')).toBe(true);
  });

  it('splits a sentence longer than the maximum by words', () => {
    const long = Array.from({ length: 450 }, (_, i) => `w${i}`).join(' ');
    const passages = splitIntoPassages(long);
    expect(passages.map((p) => p.wordCount)).toEqual([200, 200, 50]);
  });
});
