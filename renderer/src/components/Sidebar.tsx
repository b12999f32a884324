// The left column: the four screens, a "New chat" button and the chat history.
import { useState } from 'react';
import { useApp } from '../StoreContext.js';
import type { View } from '../store.js';
import { ConfirmButton } from './ConfirmButton.js';
import { Icon, type IconName } from './Icon.js';

const NAV: { view: View; label: string; icon: IconName }[] = [
  { view: 'chat', label: 'Chat', icon: 'chat' },
  { view: 'knowledge', label: 'Knowledge', icon: 'knowledge' },
  { view: 'models', label: 'Models', icon: 'models' },
  { view: 'settings', label: 'Settings', icon: 'settings' },
];

export function Sidebar() {
  const view = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);
  const newChat = useApp((s) => s.newChat);
  const model = useApp((s) => s.model);
  const queue = useApp((s) => s.queue);

  return (
    <aside className="sidebar">
      <div className="sidebar__brand">
        <Icon name="logo" size={22} />
        <span>ParamKB</span>
      </div>
      <button className="button button--primary sidebar__new" onClick={newChat} title="New chat (Ctrl+N)">
        <Icon name="plus" /> New chat
      </button>
      <nav aria-label="Screens">
        <ul className="nav">
          {NAV.map((item) => (
            <li key={item.view}>
              <button
                className={`nav__item${view === item.view ? ' nav__item--active' : ''}`}
                aria-current={view === item.view ? 'page' : undefined}
                onClick={() => setView(item.view)}
              >
                <Icon name={item.icon} /> {item.label}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <ChatHistory />
      <footer className="sidebar__footer">
        <span className={`dot ${model?.loaded ? 'dot--ok' : 'dot--off'}`} aria-hidden="true" />
        <span className="sidebar__model" title={model?.path ?? undefined}>{model?.loaded ? model.name : 'No model loaded'}</span>
        {queue && queue.running + queue.queued > 0 && (
          <span className="sidebar__queue">{queue.paused ? 'Encoding paused' : `Encoding ${queue.done}/${queue.total}`}</span>
        )}
      </footer>
    </aside>
  );
}

function ChatHistory() {
  const chats = useApp((s) => s.chats);
  const activeChatId = useApp((s) => s.activeChatId);
  const view = useApp((s) => s.view);
  const selectChat = useApp((s) => s.selectChat);
  const renameChat = useApp((s) => s.renameChat);
  const deleteChat = useApp((s) => s.deleteChat);
  const [editing, setEditing] = useState<{ id: number; title: string } | null>(null);

  if (chats.length === 0) return <p className="sidebar__empty">Your chats will appear here.</p>;
  return (
    <section className="history" aria-label="Chat history">
      <h2 className="history__title">Chats</h2>
      <ul className="history__list">
        {chats.map((chat) => (
          <li key={chat.id} className={`history__item${chat.id === activeChatId && view === 'chat' ? ' history__item--active' : ''}`}>
            {editing?.id === chat.id ? (
              <form
                className="history__rename"
                onSubmit={(e) => { e.preventDefault(); void renameChat(chat.id, editing.title); setEditing(null); }}
              >
                <input
                  aria-label="Chat title"
                  autoFocus
                  value={editing.title}
                  maxLength={200}
                  onChange={(e) => setEditing({ id: chat.id, title: e.target.value })}
                  onBlur={() => setEditing(null)}
                  onKeyDown={(e) => { if (e.key === 'Escape') setEditing(null); }}
                />
              </form>
            ) : (
              <>
                <button className="history__open" onClick={() => void selectChat(chat.id)} title={chat.title}>{chat.title}</button>
                <span className="history__actions">
                  <button className="icon-button" aria-label={`Rename chat ${chat.title}`} title="Rename" onClick={() => setEditing({ id: chat.id, title: chat.title })}>
                    <Icon name="edit" size={15} />
                  </button>
                  <ConfirmButton label={`Delete chat ${chat.title}`} icon="trash" confirmText="Delete" onConfirm={() => void deleteChat(chat.id)} />
                </span>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
