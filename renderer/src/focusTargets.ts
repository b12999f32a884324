/** Element ids that keyboard shortcuts focus. */
export const FOCUS_TARGETS = { question: 'question-input', search: 'knowledge-search' } as const;
