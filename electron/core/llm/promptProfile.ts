// Prompt profiles: the exact prompt formats a model answers best with (answer instruction,
// passage lines, answer prefix, rewrite and QA-generation prompts). Chosen per model: a
// `<model>.profile.json` or `profile.json` beside the GGUF, an explicit file, or the default
// for instruct models. The chat template renders with Jinja exactly like the model's own.
import { Template } from '@huggingface/jinja';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ParamKbError } from '../../shared/errors.js';

export interface PromptProfile {
  /** Jinja chat template; when absent the model's own tokenizer.chat_template is used. */
  chat_template?: string;
  bos_token?: string;
  eos_token?: string;
  /** Placeholders {passages} and {question}. */
  answer_with_passages: string;
  /** Placeholders {i} (1-based) and {text}. */
  passage_format: string;
  passage_separator: string;
  /** Placeholder {question}. */
  answer_without_passages: string;
  /** The words that open an answer, e.g. "The answer is ". */
  answer_prefix: string;
  /** Placeholder {answer}: how an answer is written in training sequences. */
  answer_format: string;
  /** Placeholder {passage}. */
  rewrite: string;
  /** Placeholder {passage}. */
  qa_generation: string;
  qa_output_format?: string;
}

export class PromptProfileError extends ParamKbError {
  override name = 'PromptProfileError';
}

/** For instruct models with their own chat template (Llama 3.x, Qwen 2.5 ...). */
export const DEFAULT_PROFILE: PromptProfile = {
  answer_with_passages: 'Answer the question using the passages below. Reply with one short sentence that starts with "The answer is".\n{passages}\nQuestion: {question}',
  passage_format: 'Passage {i}: {text}',
  passage_separator: '\n',
  answer_without_passages: 'Answer the question. Reply with one short sentence that starts with "The answer is".\nQuestion: {question}',
  answer_prefix: 'The answer is ',
  answer_format: 'The answer is {answer}.',
  rewrite: 'Rewrite the following passage in different words. Keep all names and facts.\nPassage: {passage}',
  // The passage first and one pair per two lines: small instruct models (SmolLM2-135M) write
  // this format where they fail at a JSON list (docs/results.md, augmentation).
  qa_generation: 'Passage: {passage}\n\nWrite 3 questions about facts in the passage above, each followed by its short answer, in this format:\nQ: <question>\nA: <short answer>',
};

/** Used when neither the profile nor the model has a chat template. */
export const FALLBACK_CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}";

const REQUIRED_KEYS = ['answer_with_passages', 'passage_format', 'passage_separator', 'answer_without_passages', 'answer_prefix', 'answer_format', 'rewrite', 'qa_generation'] as const;

export function parsePromptProfile(json: string, source: string): PromptProfile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new PromptProfileError('profile-invalid', `The prompt profile ${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new PromptProfileError('profile-invalid', `The prompt profile ${source} must be a JSON object.`);
  const merged = { ...DEFAULT_PROFILE, ...(value as Record<string, unknown>) } as Record<string, unknown>;
  for (const key of [...REQUIRED_KEYS, 'chat_template', 'bos_token', 'eos_token', 'qa_output_format']) {
    if (merged[key] !== undefined && typeof merged[key] !== 'string') throw new PromptProfileError('profile-invalid', `The prompt profile ${source}: "${key}" must be a string.`);
  }
  return merged as unknown as PromptProfile;
}

/** The profile for a model: explicit file, then `<model>.profile.json`, then `profile.json` beside it, then the default. */
export function resolvePromptProfile(modelPath: string, explicitPath?: string): { profile: PromptProfile; source: string } {
  const candidates = explicitPath
    ? [explicitPath]
    : [join(dirname(modelPath), `${basename(modelPath, extname(modelPath))}.profile.json`), join(dirname(modelPath), 'profile.json')];
  for (const path of candidates) {
    if (!existsSync(path)) {
      if (explicitPath) throw new PromptProfileError('profile-missing', `The prompt profile ${path} does not exist.`);
      continue;
    }
    return { profile: parsePromptProfile(readFileSync(path, 'utf8'), path), source: path };
  }
  return { profile: DEFAULT_PROFILE, source: 'default' };
}

/**
 * A fingerprint of a profile's content: training sequences are rendered with the profile, so
 * two encoders make the same adapter only when their profiles agree.
 */
export function promptProfileFingerprint(profile: PromptProfile): string {
  const entries = Object.entries(profile).filter(([, value]) => value !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 32);
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in values ? values[key]! : whole));
}

/** The user message of a question, with or without passages (DESIGN §1: context / closed-book). */
export function renderQuestion(profile: PromptProfile, question: string, passages: string[]): string {
  if (passages.length === 0) return fill(profile.answer_without_passages, { question });
  const block = passages.map((text, i) => fill(profile.passage_format, { i: String(i + 1), text })).join(profile.passage_separator);
  return fill(profile.answer_with_passages, { passages: block, question });
}

export function renderRewritePrompt(profile: PromptProfile, passage: string): string {
  return fill(profile.rewrite, { passage });
}

export function renderQaGenerationPrompt(profile: PromptProfile, passage: string): string {
  return fill(profile.qa_generation, { passage });
}

export function renderAnswer(profile: PromptProfile, answer: string): string {
  return fill(profile.answer_format, { answer });
}

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Renders a conversation with a Jinja chat template (as the model's own template would). */
export class ChatTemplate {
  private readonly template: Template;

  constructor(source: string, private readonly bosToken: string, private readonly eosToken: string) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new PromptProfileError('chat-template-invalid', `The chat template cannot be parsed: ${(error as Error).message}`);
    }
  }

  render(turns: ChatTurn[], addGenerationPrompt: boolean): string {
    return this.template.render({
      messages: turns,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken,
      eos_token: this.eosToken,
    });
  }
}

/**
 * The answer part of a generation: after the first "The answer is" (answers are prefilled with
 * it, and small models that repeat it trail off: "The answer is: X. The answer is"), up to the
 * end of its line, without a leading colon or the closing period.
 */
export function extractAnswer(generation: string, answerPrefix = 'The answer is'): string {
  const prefix = answerPrefix.trim().toLowerCase();
  const lower = generation.toLowerCase();
  const at = prefix ? lower.indexOf(prefix) : -1;
  let answer = at >= 0 ? generation.slice(at + prefix.length) : generation;
  const again = at >= 0 ? lower.indexOf(prefix, at + prefix.length) : -1;
  if (again >= 0) answer = answer.slice(0, again - at - prefix.length);
  return answer.trim().split('\n')[0]!.trim().replace(/^:\s*/, '').replace(/\.$/, '').trim();
}
