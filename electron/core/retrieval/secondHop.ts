// The second hop, for questions whose answer is in a passage they do not name ("Where was the
// mentor of X born?": X's passage names the mentor, the mentor's passage holds the answer). The
// passage the question is about (its title is in the question) is read for the names it
// introduces: runs of capitalized words that the question does not contain and that are not
// the passage's own subject. A name whose sentence shares words with the question ("mentor",
// "mentored") is what the question asks about; the hop searches for it, and its best new
// passage joins the first hop's list right after the passage that named it.
import type { SearchHit } from '../../shared/types.js';
import { queryTerms } from './bm25.js';

export interface BridgeEntity {
  /** The name as written in the passage. */
  name: string;
  /** Question words (other than the passage subject's) in the sentence that introduces the name. */
  overlap: number;
}

// Lowercase words that stay inside a name ("University of Boulkblae", "Ludwig van Beethoven").
const CONNECTORS = new Set(['of', 'the', 'de', 'du', 'da', 'del', 'der', 'van', 'von', 'la', 'le', 'and', '&']);
// Capitalized words that name no entity on their own.
const NOT_NAMES = new Set([
  'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
  'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday',
  'he', 'she', 'it', 'they', 'his', 'her', 'its', 'their', 'i', 'we', 'you', 'the', 'a', 'an', 'this', 'that', 'these', 'those',
  'in', 'on', 'at', 'as', 'by', 'for', 'from', 'with', 'after', 'before', 'during', 'when', 'while', 'since', 'until', 'there',
]);

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’.-]*/gu;

/** Splits text into sentences (a full stop, ! or ? followed by space and a capital or digit). */
function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"“(])/u).filter((s) => s.trim());
}

/** Capitalized runs in a sentence, connectors allowed inside; a lone first word is ordinary capitalization. */
function capitalizedRuns(sentence: string): string[] {
  const words = [...sentence.matchAll(WORD)].map((m) => m[0].replace(/['’]s$/u, '').replace(/[.'’-]+$/u, ''));
  const runs: string[] = [];
  let run: string[] = [];
  let start = 0;
  const flush = (end: number) => {
    while (run.length > 0 && CONNECTORS.has(run.at(-1)!.toLowerCase())) run.pop();
    const meaningful = run.filter((w) => !CONNECTORS.has(w.toLowerCase()) && !NOT_NAMES.has(w.toLowerCase()));
    if (meaningful.length > 0 && !(run.length === 1 && start === 0)) runs.push(run.join(' '));
    run = [];
    start = end;
  };
  words.forEach((word, i) => {
    const capital = /^\p{Lu}/u.test(word);
    if (capital) {
      if (run.length === 0) start = i;
      run.push(word);
    } else if (run.length > 0 && CONNECTORS.has(word.toLowerCase()) && /^\p{Lu}/u.test(words[i + 1] ?? '')) {
      run.push(word);
    } else {
      flush(i);
    }
  });
  flush(words.length);
  return runs;
}

/** Two words that differ only in their ending (mentor, mentored, mentorship; employs, employed). */
function sameStem(a: string, b: string): boolean {
  if (a === b) return true;
  const [shorter, longer] = a.length <= b.length ? [a, b] : [b, a];
  return shorter.length >= 4 && longer.startsWith(shorter.slice(0, Math.max(4, shorter.length - 2)));
}

/**
 * The names `passage` introduces that `question` does not mention, best first: the most question
 * words in their sentence, then the earliest.
 */
export function bridgeEntities(question: string, passage: { title: string; text: string }): BridgeEntity[] {
  const subject = new Set(queryTerms(passage.title));
  const asked = queryTerms(question).filter((t) => !subject.has(t));
  const found = new Map<string, BridgeEntity>();
  for (const sentence of sentences(passage.text)) {
    const sentenceTerms = queryTerms(sentence);
    for (const name of capitalizedRuns(sentence)) {
      const nameTerms = queryTerms(name);
      if (nameTerms.length === 0 || nameTerms.every((t) => asked.includes(t) || subject.has(t))) continue;
      // Another form of the subject's own name ("Vincenzo Salvatore Bellini" in "Vincenzo Bellini").
      if (subject.size > 0 && nameTerms.filter((t) => subject.has(t)).length * 2 >= subject.size) continue;
      const rest = sentenceTerms.filter((t) => !nameTerms.includes(t) && !subject.has(t));
      const overlap = asked.filter((q) => rest.some((t) => sameStem(q, t))).length;
      const key = nameTerms.join(' ');
      const known = found.get(key);
      if (!known || overlap > known.overlap) found.set(key, { name, overlap });
    }
  }
  return [...found.values()].sort((a, b) => b.overlap - a.overlap);
}

/**
 * Whether one sentence of the passage holds every word the question asks besides the passage's
 * subject ("Who mentored X?": "X was mentored by Y."): the passage answers by itself, and a
 * name in that sentence is the answer, not a bridge to follow.
 */
export function answersAlone(question: string, passage: { title: string; text: string }): boolean {
  const subject = new Set(queryTerms(passage.title));
  const asked = queryTerms(question).filter((t) => !subject.has(t));
  return sentences(passage.text).some((sentence) => {
    const terms = queryTerms(sentence);
    return asked.every((q) => terms.some((t) => sameStem(q, t)));
  });
}

/** Whether every word of the title is in the question (the question names the passage's subject). */
export function titleNamedByQuestion(question: string, title: string): boolean {
  const asked = new Set(queryTerms(question));
  const terms = queryTerms(title);
  return terms.length > 0 && terms.every((t) => asked.has(t));
}

/** The hop's query: the name, and the question's words that the first passage's title does not hold. */
export function hopQuery(question: string, entity: string, firstTitle: string): string {
  const subject = new Set(queryTerms(firstTitle));
  return [entity, ...queryTerms(question).filter((t) => !subject.has(t))].join(' ');
}

/**
 * The first hop's list with the hop's passages right after the passage that named them (`from`,
 * an index into `first`), without repeats, cut to k: what the first hop ranked above the bridge
 * stays, the first hop's weakest passages make room.
 */
export function mergeHops(first: SearchHit[], from: number, hop: SearchHit[], k: number): SearchHit[] {
  const merged: SearchHit[] = [];
  const seen = new Set<number>();
  for (const hit of [...first.slice(0, from + 1), ...hop, ...first.slice(from + 1)]) {
    if (merged.length === k) break;
    if (seen.has(hit.passageId)) continue;
    seen.add(hit.passageId);
    merged.push(hit);
  }
  return merged;
}
