// Chats and their messages, with a snapshot of the passages each answer used.
import type { AnswerMode, AnswerSource, ChatMessage, ChatSummary, CombineCandidates } from '../../shared/types.js';
import { NotFoundError } from '../../shared/errors.js';
import { nowIso, type Db } from './database.js';

interface ChatRow { id: number; title: string; created_at: string; updated_at: string }
interface MessageRow { id: number; chat_id: number; role: 'user' | 'assistant'; text: string; mode: AnswerMode | null; error: string | null; candidates: string | null; created_at: string }
interface SourceRow { message_id: number; passage_id: number; document_id: number; document_title: string; text: string; score: number; used_as: AnswerSource['usedAs'] }

const toChat = (r: ChatRow): ChatSummary => ({ id: r.id, title: r.title, createdAt: r.created_at, updatedAt: r.updated_at });

export class ChatStore {
  constructor(private readonly db: Db) {}

  list(): ChatSummary[] {
    return (this.db.prepare('SELECT * FROM chats ORDER BY updated_at DESC, id DESC').all() as ChatRow[]).map(toChat);
  }

  get(id: number): ChatSummary {
    const row = this.db.prepare('SELECT * FROM chats WHERE id = ?').get(id) as ChatRow | undefined;
    if (!row) throw new NotFoundError(`Chat ${id}`);
    return toChat(row);
  }

  create(title: string): ChatSummary {
    const now = nowIso();
    const id = Number(this.db.prepare('INSERT INTO chats (title, created_at, updated_at) VALUES (?, ?, ?)').run(title.trim() || 'New chat', now, now).lastInsertRowid);
    return this.get(id);
  }

  rename(id: number, title: string): ChatSummary {
    const changes = this.db.prepare('UPDATE chats SET title = ?, updated_at = ? WHERE id = ?').run(title.trim() || 'Untitled chat', nowIso(), id).changes;
    if (changes === 0) throw new NotFoundError(`Chat ${id}`);
    return this.get(id);
  }

  delete(id: number): void {
    if (this.db.prepare('DELETE FROM chats WHERE id = ?').run(id).changes === 0) throw new NotFoundError(`Chat ${id}`);
  }

  messages(chatId: number): ChatMessage[] {
    this.get(chatId);
    const rows = this.db.prepare('SELECT * FROM messages WHERE chat_id = ? ORDER BY id').all(chatId) as MessageRow[];
    const sources = this.db.prepare('SELECT s.* FROM message_sources s JOIN messages m ON m.id = s.message_id WHERE m.chat_id = ? ORDER BY s.message_id, s.rank').all(chatId) as SourceRow[];
    const byMessage = new Map<number, AnswerSource[]>();
    for (const s of sources) {
      const list = byMessage.get(s.message_id) ?? [];
      list.push({ passageId: s.passage_id, documentId: s.document_id, documentTitle: s.document_title, text: s.text, score: s.score, usedAs: s.used_as });
      byMessage.set(s.message_id, list);
    }
    return rows.map((r) => toMessage(r, byMessage.get(r.id) ?? []));
  }

  messageCount(chatId: number): number {
    return this.db.prepare('SELECT COUNT(*) FROM messages WHERE chat_id = ?').pluck().get(chatId) as number;
  }

  /** Appends a message (and its sources) and touches the chat, in one transaction. */
  addMessage(chatId: number, message: { role: 'user' | 'assistant'; text: string; mode: AnswerMode | null; error?: string | null; sources?: AnswerSource[]; candidates?: CombineCandidates }): ChatMessage {
    return this.db.transaction(() => {
      this.get(chatId);
      const now = nowIso();
      const candidates = message.candidates ? JSON.stringify(message.candidates) : null;
      const id = Number(this.db.prepare('INSERT INTO messages (chat_id, role, text, mode, error, candidates, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(chatId, message.role, message.text, message.mode, message.error ?? null, candidates, now).lastInsertRowid);
      const insert = this.db.prepare('INSERT INTO message_sources (message_id, rank, passage_id, document_id, document_title, text, score, used_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      (message.sources ?? []).forEach((s, rank) => insert.run(id, rank, s.passageId, s.documentId, s.documentTitle, s.text, s.score, s.usedAs));
      this.db.prepare('UPDATE chats SET updated_at = ? WHERE id = ?').run(now, chatId);
      return toMessage({ id, chat_id: chatId, role: message.role, text: message.text, mode: message.mode, error: message.error ?? null, candidates, created_at: now }, message.sources ?? []);
    })();
  }
}

function toMessage(r: MessageRow, sources: AnswerSource[]): ChatMessage {
  let candidates: CombineCandidates | null = null;
  try { candidates = r.candidates ? JSON.parse(r.candidates) as CombineCandidates : null; } catch { /* a damaged value shows no candidates */ }
  return { id: r.id, chatId: r.chat_id, role: r.role, text: r.text, mode: r.mode, sources, candidates, error: r.error, createdAt: r.created_at };
}
