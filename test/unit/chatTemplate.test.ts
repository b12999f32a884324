// ChatTemplate renders a conversation as the model's own Jinja template would, and refuses a
// template it cannot parse with a typed error.
import { describe, expect, it } from 'vitest';
import { ChatTemplate, FALLBACK_CHAT_TEMPLATE } from '../../electron/core/llm/promptProfile.js';

const CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('chat template', () => {
  it('renders turns, with the generation prompt only when asked', () => {
    const template = new ChatTemplate(CHATML, '<s>', '</s>');
    const turns = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Where was Orla born?' }] as const;
    expect(template.render([...turns], true)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhere was Orla born?<|im_end|>\n<|im_start|>assistant\n');
    expect(template.render([...turns], false)).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhere was Orla born?<|im_end|>\n');
  });

  it('gives a model without a template the instruction format, with its BOS and EOS tokens', () => {
    const template = new ChatTemplate(FALLBACK_CHAT_TEMPLATE, '<bos>', '<eos>');
    expect(template.render([{ role: 'user', content: 'Q?' }, { role: 'assistant', content: 'A.' }], false)).toBe('<bos>### Instruction:\nQ?\n\n### Response:\nA.<eos>');
    expect(template.render([{ role: 'user', content: 'Q?' }], true)).toBe('<bos>### Instruction:\nQ?\n\n### Response:\n');
  });

  it('refuses a template that does not parse', () => {
    expect(() => new ChatTemplate('{% for message in messages %}', '', '')).toThrow(expect.objectContaining({ code: 'chat-template-invalid' }));
  });
});
