// Chat: the conversation with streamed answers and their sources, the answer-mode switch and
// the question box. Enter sends (Shift+Enter for a new line), Esc stops.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ANSWER_MODES, type AnswerMode, type AnswerSource, type ChatMessage, type CombineCandidates, type PassageUse } from '../../../electron/shared/types.js';
import { FOCUS_TARGETS } from '../focusTargets.js';
import { Icon } from '../components/Icon.js';
import { useApp } from '../StoreContext.js';

export const MODE_INFO: Record<AnswerMode, { label: string; description: string }> = {
  auto: { label: 'Auto', description: 'Adapters where passages are encoded, passage text in the prompt where they are not yet.' },
  parametric: { label: 'Parametric', description: 'Only the adapters of the retrieved passages; the prompt holds just the question.' },
  context: { label: 'Context', description: 'Classic RAG: the retrieved passages are put in the prompt.' },
  combine: { label: 'Combine', description: 'The passages and their adapters each answer; the answer both find likelier is kept.' },
  'one-pass': { label: 'One-pass combine', description: "The paper's combine: the passages in the prompt and their adapters applied, in one answer." },
  'closed-book': { label: 'Closed book', description: 'The model alone, without your documents.' },
};

export function ChatView() {
  const activeChatId = useApp((s) => s.activeChatId);
  const chats = useApp((s) => s.chats);
  const messages = useApp((s) => (s.activeChatId === null ? undefined : s.messages[s.activeChatId]));
  const streaming = useApp((s) => s.streaming);
  const title = chats.find((c) => c.id === activeChatId)?.title ?? 'New chat';
  const streamingHere = streaming !== null && streaming.chatId === activeChatId;
  const logRef = useRef<HTMLDivElement>(null);

  // Follow the answer as it streams, unless the user scrolled up to read.
  useEffect(() => {
    const log = logRef.current;
    if (log && log.scrollHeight - log.scrollTop - log.clientHeight < 160) log.scrollTop = log.scrollHeight;
  }, [messages, streaming?.text]);

  const empty = !messages?.length && !streamingHere;
  return (
    <section className="screen chat" aria-label="Chat">
      <header className="screen__header">
        <h1 className="screen__title">{title}</h1>
        <ModeSwitch />
      </header>
      <div className="chat__log" ref={logRef} role="log" aria-label="Conversation">
        {empty ? <ChatEmptyState /> : (
          <>
            {messages?.map((m) => <MessageView key={m.id} message={m} />)}
            {streamingHere && <StreamingView />}
          </>
        )}
      </div>
      <Composer />
    </section>
  );
}

function ModeSwitch() {
  const mode = useApp((s) => s.mode);
  const setMode = useApp((s) => s.setMode);
  return (
    <div className="segmented" role="radiogroup" aria-label="Answer mode">
      {ANSWER_MODES.map((m) => (
        <button
          key={m}
          role="radio"
          aria-checked={mode === m}
          className={`segmented__option${mode === m ? ' segmented__option--on' : ''}`}
          title={MODE_INFO[m].description}
          onClick={() => setMode(m)}
        >
          {MODE_INFO[m].label}
        </button>
      ))}
    </div>
  );
}

function ChatEmptyState() {
  const documents = useApp((s) => s.documents);
  const model = useApp((s) => s.model);
  const setView = useApp((s) => s.setView);
  const ask = useApp((s) => s.ask);
  const steps: ReactNode[] = [];
  if (!model?.loaded) {
    steps.push(<>Open a model (a GGUF file) or download one. <button className="link" onClick={() => setView('models')}>Go to Models</button></>);
  }
  if (documents.length === 0) {
    steps.push(<>Import files or a folder: they are searchable at once and learned by the model in the background.{' '}
      <button className="link" onClick={() => setView('knowledge')}>Go to Knowledge</button></>);
  }
  return (
    <div className="empty">
      <span className="empty__logo"><Icon name="logo" size={40} /></span>
      <h2>Ask your documents</h2>
      {steps.length > 1 ? <ol className="empty__steps">{steps.map((step, i) => <li key={i}>{step}</li>)}</ol>
        : steps.length === 1 ? <p className="empty__steps">{steps[0]}</p> : (
          <>
            <p>Your knowledge base has {documents.length} document{documents.length === 1 ? '' : 's'}. Try asking:</p>
            <div className="suggestions">
              {documents.slice(0, 3).map((d) => (
                <button key={d.id} className="suggestion" onClick={() => void ask(`What does "${d.title}" say?`)}>What does “{d.title}” say?</button>
              ))}
            </div>
          </>
        )}
      <p className="empty__hint">Enter sends · Shift+Enter new line · Esc stops · Ctrl+N new chat · Ctrl+K search</p>
    </div>
  );
}

function MessageView({ message }: { message: ChatMessage }) {
  if (message.role === 'user') {
    return (
      <article className="message message--user" aria-label="Your question">
        <div className="message__bubble">{message.text}</div>
      </article>
    );
  }
  return (
    <article className="message message--assistant" aria-label="Answer">
      <div className="message__meta">{message.mode && <span className="tag">{MODE_INFO[message.mode].label}</span>}</div>
      <div className="message__bubble">
        {message.text}
        {message.error && (
          <p className={`message__error${message.text ? '' : ' message__error--alone'}${message.error === 'cancelled' ? ' message__error--quiet' : ''}`}>
            {message.error === 'cancelled' ? 'Stopped.' : message.error}
          </p>
        )}
      </div>
      {message.candidates && <CombineNote candidates={message.candidates} />}
      {message.sources.length > 0 && <Sources sources={message.sources} />}
    </article>
  );
}

/** Which of combine's two answers was kept, and what the other said. */
function CombineNote({ candidates }: { candidates: CombineCandidates }) {
  if (candidates.passages.logProb === null) return <p className="message__note">The passages and their adapters gave the same answer.</p>;
  const other = candidates.kept === 'passages' ? 'adapters' : 'passages';
  return (
    <p className="message__note">
      Kept the {candidates.kept === 'passages' ? 'passages’' : 'adapters’'} answer, which both found likelier.
      The {other} answered: “{candidates[other].answer}”.
    </p>
  );
}

function StreamingView() {
  const streaming = useApp((s) => s.streaming);
  if (!streaming) return null;
  return (
    <article className="message message--assistant" aria-label="Answer" aria-busy="true">
      <div className="message__meta"><span className="tag">{MODE_INFO[streaming.mode].label}</span></div>
      <div className="message__bubble">
        {streaming.text || <span className="muted">Thinking…</span>}
        <span className="caret" aria-hidden="true" />
      </div>
    </article>
  );
}

const USE_INFO: Record<PassageUse, string> = {
  adapter: 'Its LoRA adapter was applied to the model',
  context: 'Its text was put in the prompt',
  both: 'Its text was in the prompt of one answer and its adapter was applied for the other',
};

function Sources({ sources }: { sources: AnswerSource[] }) {
  const showDocument = useApp((s) => s.showDocument);
  return (
    <details className="sources" open>
      <summary>Sources ({sources.length})</summary>
      <ol className="sources__list" aria-label="Sources">
        {sources.map((source) => (
          <li key={source.passageId} className="source">
            <div className="source__head">
              <button className="link source__doc" onClick={() => void showDocument(source.documentId, source.passageId)}>
                <Icon name="file" size={14} /> {source.documentTitle}
              </button>
              <span className={`badge badge--${source.usedAs}`} title={USE_INFO[source.usedAs]}>
                {source.usedAs === 'both' ? 'adapter + context' : source.usedAs}
              </span>
            </div>
            <p className="source__text">{source.text}</p>
          </li>
        ))}
      </ol>
    </details>
  );
}

function Composer() {
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const ask = useApp((s) => s.ask);
  const stop = useApp((s) => s.stopAnswer);
  const busy = useApp((s) => s.streaming !== null);
  const askError = useApp((s) => s.askError);
  const clearAskError = useApp((s) => s.clearAskError);
  const setView = useApp((s) => s.setView);
  // The box keeps the question until it was sent, so a question that could not be asked is not lost.
  const send = async () => {
    if (!text.trim() || busy || sending) return;
    setSending(true);
    const sent = await ask(text);
    setSending(false);
    if (sent) setText('');
  };
  return (
    <>
      {askError && (
        <p className="composer__error" role="alert">
          {askError.text}
          {askError.needsModel && <> <button type="button" className="link" onClick={() => setView('models')}>Go to Models</button></>}
        </p>
      )}
      <form className="composer" onSubmit={(e) => { e.preventDefault(); void send(); }}>
        <textarea
          id={FOCUS_TARGETS.question}
          className="composer__input"
          aria-label="Question"
          placeholder="Ask a question about your documents…"
          rows={2}
          value={text}
          autoFocus
          onChange={(e) => { setText(e.target.value); if (askError && !askError.needsModel) clearAskError(); }}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {busy ? (
          <button type="button" className="button button--danger" onClick={() => void stop()} title="Stop (Esc)">
            <Icon name="stop" /> Stop
          </button>
        ) : (
          <button type="submit" className="button button--primary" disabled={!text.trim() || sending} title="Send (Enter)">
            <Icon name="send" /> Send
          </button>
        )}
      </form>
    </>
  );
}
