// Cuts a document's text into passages of about 100-200 words at sentence boundaries. Sentences
// come from Intl.Segmenter (ICU's sentence rules, built into Node), not a hand-written regex.
// A passage is the unit of retrieval and of parametric encoding (one adapter per passage).

export interface PassageOptions {
  /** A passage is closed at a paragraph break once it has this many words. Default 100. */
  minWords?: number;
  /** A passage never grows past this many words (a longer sentence is cut by words). Default 200. */
  maxWords?: number;
}

export interface PassageText {
  position: number;
  text: string;
  wordCount: number;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });

function countWords(text: string): number {
  const m = text.match(/\S+/g);
  return m ? m.length : 0;
}

/** Sentences of a paragraph; a sentence longer than maxWords is split into word runs. */
function sentencesOf(paragraph: string, maxWords: number): string[] {
  const out: string[] = [];
  for (const { segment } of segmenter.segment(paragraph)) {
    const sentence = segment.trim();
    if (!sentence) continue;
    const words = sentence.split(/\s+/);
    if (words.length <= maxWords) out.push(sentence);
    else for (let i = 0; i < words.length; i += maxWords) out.push(words.slice(i, i + maxWords).join(' '));
  }
  return out;
}

export function splitIntoPassages(text: string, options: PassageOptions = {}): PassageText[] {
  const minWords = options.minWords ?? 100;
  const maxWords = options.maxWords ?? 200;
  const passages: PassageText[] = [];
  let current: string[] = [];
  let currentWords = 0;
  const close = () => {
    if (current.length === 0) return;
    const body = current.join(' ');
    passages.push({ position: passages.length, text: body, wordCount: currentWords });
    current = [];
    currentWords = 0;
  };
  for (const paragraph of text.split(/\n\s*\n/)) {
    for (const sentence of sentencesOf(paragraph.replace(/\s*\n\s*/g, ' '), maxWords)) {
      const words = countWords(sentence);
      if (currentWords > 0 && currentWords + words > maxWords) close();
      current.push(sentence);
      currentWords += words;
      if (currentWords >= maxWords) close();
    }
    // Paragraph ends are the preferred cut once a passage is long enough.
    if (currentWords >= minWords) close();
  }
  // A short tail joins the previous passage when both fit, so no passage is a lone fragment.
  if (current.length > 0 && passages.length > 0 && currentWords < minWords / 2) {
    const last = passages[passages.length - 1]!;
    if (last.wordCount + currentWords <= maxWords) {
      last.text = `${last.text} ${current.join(' ')}`;
      last.wordCount += currentWords;
      current = [];
      currentWords = 0;
    }
  }
  close();
  return passages;
}
